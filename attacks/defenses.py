"""The defenses compared side by side: name -> the training-config fields that make it (field names of
``freqmix.train.TrainConfig``; this package does not import the CLI).

- ``none``: all channels, k = 1 (no protection, the reference of ``score_cls``);
- ``ppfr``: PPFR-FD-like channel masking: keep the 36 highest-frequency channels per plane, keyed shuffle, k = 1;
- ``dctdp``: DCTDP-like: drop the DC channel, Laplace noise of budget ε = :data:`DCTDP_EPSILON` per coefficient;
- ``instahide``: all channels, k = 4, InstaHide weights (each <= 0.65) and random sign flips;
- ``fixed2`` … ``fixed6``: the hybrid mask (DC dropped + keyed shuffle, :data:`HYBRID_MASK`) with k fixed;
- ``random``: the hybrid mask with k drawn uniformly from {2..6} per batch;
- ``adaptive``: the hybrid mask with k chosen per batch by the trained REINFORCE agent (the paper's method).
"""
from __future__ import annotations

from typing import Any

import numpy as np

DCTDP_EPSILON = 1.0
HYBRID_MASK: dict[str, Any] = {"channels": "no-dc", "weights": "dirichlet", "alpha": 1.0}
_KEY_STREAM = 7919  # keeps the secret key's draw apart from every other use of the seed

# Every protection field, so that a defense never inherits one from the command line.
_PLAIN: dict[str, Any] = {"agent": "fixed", "k": 1, "env": "FreqMixUp-v0", "channels": "all", "n_high": 36,
                          "upsample": 1, "weights": "dirichlet", "alpha": 1.0, "sign_flip": False, "drop": 0.0,
                          "laplace_epsilon": None, "keyed": False}
DEFENSES: dict[str, dict[str, Any]] = {
    "none": dict(_PLAIN),
    "ppfr": {**_PLAIN, "channels": "high", "keyed": True},
    "dctdp": {**_PLAIN, "channels": "no-dc", "laplace_epsilon": DCTDP_EPSILON},
    "instahide": {**_PLAIN, "k": 4, "weights": "instahide", "sign_flip": True},
    **{f"fixed{k}": {**_PLAIN, **HYBRID_MASK, "k": k, "keyed": True} for k in range(2, 7)},
    "random": {**_PLAIN, **HYBRID_MASK, "agent": "random", "keyed": True},
    "adaptive": {**_PLAIN, **HYBRID_MASK, "agent": "reinforce", "keyed": True},
}


def secret_key(seed: int) -> int:
    """The defender's channel-shuffle key, derived from the run's one seed."""
    return int(np.random.default_rng([seed, _KEY_STREAM]).integers(2**31))


def parse_defenses(text: str) -> list[str]:
    """``"none,ppfr,fixed2"`` -> the names, in order, without repeats; ValueError for an unknown or empty list."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ValueError("--defenses is empty; give a comma-separated list such as none,ppfr,fixed4")
    unknown = [name for name in names if name not in DEFENSES]
    if unknown:
        raise ValueError(f"unknown defense {unknown[0]!r}; choose from {', '.join(DEFENSES)}")
    return names


def defense_overrides(name: str, seed: int) -> dict[str, Any]:
    """The training-config fields of defense ``name`` (the secret key drawn from ``seed`` where it shuffles)."""
    if name not in DEFENSES:
        raise ValueError(f"unknown defense {name!r}; choose from {', '.join(DEFENSES)}")
    fields = dict(DEFENSES[name])
    keyed = fields.pop("keyed", False)
    fields["key"] = secret_key(seed) if keyed else None
    return fields
