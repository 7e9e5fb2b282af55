"""The Box relaxation of a discrete recipe action, so that continuous-action algorithms (SAC, TD3) can choose it.

Each discrete dimension with ``n`` choices becomes one coordinate in ``[-1, 1]`` cut into ``n`` equal bins:
``index = min(n - 1, floor((a + 1) / 2 * n))``. One coordinate per dimension (rather than one logit per choice)
keeps the action small and keeps k's order: neighbouring values of the coordinate are neighbouring k, which suits
the smooth Q-functions of SAC and TD3. For the unordered dimensions of ``FreqMixUpRecipe-v0`` (weight scheme)
the bin order is arbitrary; a critic can still learn it, only less smoothly.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from freqmix_base.errors import FreqmixError


class BoxRelaxation(gym.ActionWrapper):
    """Expose a ``Discrete(n)`` or ``MultiDiscrete(nvec)`` action space as ``Box(-1, 1, (dims,))``.

    :param env: an env with a Discrete (dims = 1) or MultiDiscrete (dims = len(nvec)) action space, start 0.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.action_space
        if isinstance(space, spaces.Discrete) and int(space.start) == 0:
            self.nvec = np.array([int(space.n)])
        elif isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1 and not np.any(space.start):
            self.nvec = np.asarray(space.nvec, dtype=np.int64)
        else:
            raise FreqmixError(
                f"BoxRelaxation relaxes Discrete or flat MultiDiscrete spaces starting at 0, not {space}")
        self.action_space = spaces.Box(-1.0, 1.0, shape=(len(self.nvec),), dtype=np.float32)

    def action(self, action: Any) -> Any:
        """``(dims,)`` floats in [-1, 1] (values outside are clipped) -> the discrete action of the wrapped env."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(len(self.nvec)), -1.0, 1.0)
        index = np.minimum(self.nvec - 1, np.floor((a + 1.0) / 2.0 * self.nvec)).astype(np.int64)
        return int(index[0]) if isinstance(self.env.action_space, spaces.Discrete) else index

    def relax(self, discrete_action: Any) -> np.ndarray:
        """The centre of the bin of ``discrete_action`` (the inverse of :meth:`action` up to the bin width)."""
        index = np.asarray(discrete_action, dtype=np.float64).reshape(len(self.nvec))
        return ((index + 0.5) / self.nvec * 2.0 - 1.0).astype(np.float32)
