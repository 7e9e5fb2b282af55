"""The defenses compared side by side: name -> the run-configuration fields that make it (the fields of the
protection pieces, :class:`mixup_env.frequency.TransformConfig` and :class:`mixup_env.masking.Recipe`, plus who
chooses k and under which reward), in the :data:`DEFENSES` registry.

- ``none``: all channels, k = 1 (no protection, the reference of ``score_cls``);
- ``ppfr``: PPFR-FD-like channel masking: keep the 36 highest-frequency channels per plane, keyed shuffle, k = 1;
- ``dctdp``: DCTDP-like: drop the DC channel, Laplace noise of budget ε = :data:`DCTDP_EPSILON` per coefficient;
- ``instahide``: all channels, k = 4, InstaHide weights (each <= 0.65) and random sign flips;
- ``fixed2`` … ``fixed6``: the paper's hybrid mask (:data:`HYBRID_MASK`: PPFR-FD's high-frequency channel
  selection and keyed shuffle, then frequency MixUp) with k fixed;
- ``random``: the hybrid mask with k drawn uniformly from {2..6} per batch;
- ``linear``, ``step``, ``cosine``: the hybrid mask with k following a schedule of the run's progress
  (:mod:`agents.schedules`: 2 -> 6 as a ramp, a step at half time, a half cosine);
- ``adaptive``: the hybrid mask with k chosen per batch by the REINFORCE agent learning during the run under the
  constrained reward (the paper's method with our reward; :mod:`mixup_env.rewards`);
- ``reinforce-loss``, ``reinforce-constrained``, ``ppo-loss``, ``ppo-constrained``: the adaptive agents under
  each reward (``reinforce-constrained`` is ``adaptive``);
- ``fixed2-nodc`` … ``fixed6-nodc``, ``random-nodc``, ``adaptive-nodc``: the same with the weaker mask that only
  drops the DC channel (:data:`NO_DC_MASK`), kept for comparison with earlier results.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

import numpy as np

from freqmix_base.errors import FreqmixError
from freqmix_base.registry import Registry
from mixup_env.frequency import TransformConfig
from mixup_env.masking import Recipe
from mixup_env.spaces import PAPER_K_CHOICES

DCTDP_EPSILON = 1.0
HYBRID_MASK: dict[str, Any] = {"channels": "high", "weights": "dirichlet", "alpha": 1.0, "keyed": True}
NO_DC_MASK: dict[str, Any] = {"channels": "no-dc", "weights": "dirichlet", "alpha": 1.0, "keyed": True}
_KEY_STREAM = 7919  # keeps the secret key's draw apart from every other use of the seed

#: The run-configuration fields of the protection: the transform's and the recipe's (but k, the agent's choice).
PROTECTION_OPTIONS = (*(f.name for f in fields(TransformConfig)), *(f.name for f in fields(Recipe) if f.name != "k"))
# Every protection field at its piece's default, so that a defense never inherits one from the command line (a new
# field of the transform or the recipe joins every defense); ``keyed`` stands for the key, drawn per seed.
_PROTECTION = {**asdict(TransformConfig()), **asdict(Recipe())}
_PLAIN: dict[str, Any] = {"agent": "fixed", "k": 1, "env": "FreqMixUp-v0",
                          **{name: _PROTECTION[name] for name in PROTECTION_OPTIONS if name != "key"},
                          "keyed": False, "reward": "loss"}
SCHEDULE_DEFENSES = ("linear", "step", "cosine")
ADAPTIVE_DEFENSES = ("reinforce-loss", "reinforce-constrained", "ppo-loss", "ppo-constrained")

DEFENSES: Registry[dict[str, Any]] = Registry("defense", "--defenses")
DEFENSES.register("none", dict(_PLAIN))
DEFENSES.register("ppfr", {**_PLAIN, "channels": "high", "keyed": True})
DEFENSES.register("dctdp", {**_PLAIN, "channels": "no-dc", "laplace_epsilon": DCTDP_EPSILON})
DEFENSES.register("instahide", {**_PLAIN, "k": 4, "weights": "instahide", "sign_flip": True})
for _suffix, _mask in (("", HYBRID_MASK), ("-nodc", NO_DC_MASK)):
    for _k in PAPER_K_CHOICES:
        DEFENSES.register(f"fixed{_k}{_suffix}", {**_PLAIN, **_mask, "k": _k})
    DEFENSES.register(f"random{_suffix}", {**_PLAIN, **_mask, "agent": "random"})
    DEFENSES.register(f"adaptive{_suffix}", {**_PLAIN, **_mask, "agent": "reinforce", "reward": "constrained"})
for _name in SCHEDULE_DEFENSES:
    DEFENSES.register(_name, {**_PLAIN, **HYBRID_MASK, "agent": _name})
for _name in ADAPTIVE_DEFENSES:
    _agent, _reward = _name.split("-")
    DEFENSES.register(_name, {**_PLAIN, **HYBRID_MASK, "agent": _agent, "reward": _reward})


class DefenseError(FreqmixError):
    """An empty or unusable ``--defenses`` list."""


def secret_key(seed: int) -> int:
    """The defender's channel-shuffle key, derived from the run's one seed."""
    return int(np.random.default_rng([seed, _KEY_STREAM]).integers(2**31))


def parse_defenses(text: str) -> list[str]:
    """``"none,ppfr,fixed2"`` -> the names, in order, without repeats; a FreqmixError for an unknown or empty
    list."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise DefenseError("--defenses is empty; give a comma-separated list such as none,ppfr,fixed4")
    for name in names:
        DEFENSES.get(name)
    return names


def defense_overrides(name: str, seed: int) -> dict[str, Any]:
    """The run-configuration fields of defense ``name`` (the secret key drawn from ``seed`` where it shuffles; an
    agent given as a path template, e.g. a policy saved per seed, gets ``{seed}`` filled in)."""
    fields = dict(DEFENSES.get(name))
    fields["agent"] = fields["agent"].format(seed=seed)
    keyed = fields.pop("keyed", False)
    fields["key"] = secret_key(seed) if keyed else None
    return fields
