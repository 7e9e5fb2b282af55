"""Preset env ids small enough to try in seconds, for code that can only name an env id (CleanRL's ``--env-id``,
RL Zoo, ``gymnasium.make`` without keywords).

- ``FreqMixUp-Tiny-v0``: the embedded synthetic faces (no data needed) at 32×32, batches of 16: an episode (one
  epoch) is 6 recognizer steps.
- ``FreqMixUp-ORL32-v0``: the ORL faces at 32×32, batches of 32: an episode is 6 steps. The faces are read from
  ``$FREQMIX_ORL``, else ``$FREQMIX_SHARED_DATA/orl``, else a ``data=PATH`` keyword.

Both take the paper's action (k in {2..6}); keywords given to ``gymnasium.make`` win over the preset's. Their spec
gives the episode's length (``spec.max_episode_steps``, for code that sizes rollouts by it): a keyword that changes
it (``batch_size``, ``data``) needs ``max_episode_steps=`` beside it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqmix_base.errors import FreqmixError

if TYPE_CHECKING:  # importing the env imports torch; registering the ids must not
    from mixup_env.env import FreqMixUpEnv

TINY = {"data": "synthetic", "image_size": 32, "batch_size": 16, "embedding_dim": 32, "action": "k"}
ORL32 = {"image_size": 32, "batch_size": 32, "embedding_dim": 32, "action": "k"}
# env id -> (entry point, keywords, steps of an episode: one epoch of the preset's training faces)
PRESETS: dict[str, tuple[str, dict[str, Any], int]] = {
    "FreqMixUp-Tiny-v0": ("mixup_env.env:FreqMixUpEnv", TINY, 6),  # 100 training faces // 16
    "FreqMixUp-ORL32-v0": ("mixup_env.presets:orl32", ORL32, 6),  # 200 training faces // 32
}


def orl_folder() -> Path:
    """Where ``FreqMixUp-ORL32-v0`` reads the ORL faces: ``$FREQMIX_ORL`` or ``$FREQMIX_SHARED_DATA/orl``."""
    if os.environ.get("FREQMIX_ORL"):
        return Path(os.environ["FREQMIX_ORL"])
    if os.environ.get("FREQMIX_SHARED_DATA"):
        return Path(os.environ["FREQMIX_SHARED_DATA"]) / "orl"
    raise FreqmixError("FreqMixUp-ORL32-v0 needs the ORL faces: set FREQMIX_ORL=/path/to/orl (one folder per "
                       "identity), or pass data=PATH to gymnasium.make")


def orl32(**options: Any) -> FreqMixUpEnv:
    """The ``FreqMixUp-ORL32-v0`` env (see the module docstring); ``options`` as ``FreqMixUpEnv`` takes them."""
    from mixup_env.env import FreqMixUpEnv

    if "data" not in options:
        options["data"] = str(orl_folder())
    return FreqMixUpEnv(**options)
