"""Non-learning recipe choosers with Stable-Baselines3's ``predict()`` signature.

They read the action encoding from the env's :class:`mixup_env.spaces.ActionCodec` (the one place that says
what an action means) and nothing else of the env.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mixup_env.masking import Recipe
from mixup_env.spaces import ActionCodec


class _RecipeChooser:
    """Shared ``predict()`` plumbing: one action per observation, single or batched (VecEnv)."""

    def __init__(self, codec: ActionCodec, recipe: Recipe) -> None:
        self.codec = codec
        self.recipe = recipe

    def _action(self) -> Any:
        raise NotImplementedError

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Actions for ``observation`` (obs_dim,) or (n_envs, obs_dim); ``state`` is unused (no recurrence)."""
        obs = np.asarray(observation)
        if obs.ndim == 1:
            return np.asarray(self._action()), None
        return np.stack([np.asarray(self._action()) for _ in range(obs.shape[0])]), None


class FixedK(_RecipeChooser):
    """Always the same recipe: ``k`` images per mix (k = 1 is the no-defence baseline).

    :param k: images mixed per output; must be one of the env's k choices.
    :param codec: the env's action codec (``env.get_wrapper_attr("codec")``).
    :param recipe: the non-k recipe fields (weights, sign flip, drop); defaults to the codec's.
    """

    def __init__(self, k: int, codec: ActionCodec, recipe: Recipe | None = None) -> None:
        super().__init__(codec, replace(recipe or codec.default, k=k))
        self._fixed = codec.encode(self.recipe)

    def _action(self) -> Any:
        return self._fixed


class RandomK(_RecipeChooser):
    """k drawn uniformly from the env's k choices for every batch; the other recipe fields fixed.

    :param codec: the env's action codec.
    :param seed: seed of the chooser's own generator (separate from the env's).
    :param recipe: the non-k recipe fields; defaults to the codec's.
    """

    def __init__(self, codec: ActionCodec, seed: int | None = None, recipe: Recipe | None = None) -> None:
        super().__init__(codec, recipe or codec.default)
        self.rng = np.random.default_rng(seed)
        self._actions = [codec.encode(replace(self.recipe, k=k)) for k in codec.k_choices]

    def _action(self) -> Any:
        return self._actions[int(self.rng.integers(len(self._actions)))]
