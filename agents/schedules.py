"""Hand-designed k schedules, the baselines an adaptive agent must beat: k follows the run's progress, not its state.

- ``linear``: a ramp from the smallest to the largest k choice (2 -> 6 on the paper's choices);
- ``step``: the smallest k for the first half of the run, the largest for the second;
- ``cosine``: the ramp eased by a half cosine (slow at both ends, like the recognizer's lr schedule).

Each maps progress p in [0, 1) (recognizer steps done / the run's steps) to a k between the smallest and the
largest choice and takes the nearest choice. Mixing little early and much late lets the recognizer learn from
near-clean batches first; all three spend the same mean mixing on the paper's choices (mean k 4).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from agents.baselines import _RecipeChooser
from freqmix_base.registry import Registry
from mixup_env.recipe import Recipe
from mixup_env.spaces import ActionCodec

SCHEDULES: Registry[Callable[[float], float]] = Registry("schedule", "--agent")
SCHEDULES.register("linear", lambda p: p)
SCHEDULES.register("step", lambda p: 0.0 if p < 0.5 else 1.0)
SCHEDULES.register("cosine", lambda p: (1 - math.cos(math.pi * p)) / 2)


class KSchedule(_RecipeChooser):
    """k from a schedule of the run's progress; the other recipe fields fixed.

    :param name: a registered schedule (``linear``, ``step``, ``cosine``).
    :param codec: the env's action codec.
    :param recipe: the non-k recipe fields; defaults to the codec's.
    """

    def __init__(self, name: str, codec: ActionCodec, recipe: Recipe | None = None) -> None:
        super().__init__(codec, recipe or codec.default)
        self.name, self.shape = name, SCHEDULES.get(name)
        self._actions = [codec.encode(replace(self.recipe, k=k)) for k in codec.k_choices]

    def k_at(self, progress: float) -> int:
        """The k choice at ``progress`` (0..1) of the run."""
        low, high = self.codec.k_choices[0], self.codec.k_choices[-1]
        target = low + (high - low) * self.shape(min(max(progress, 0.0), 1.0))
        return self.codec.k_choices[int(np.argmin([abs(k - target) for k in self.codec.k_choices]))]

    def _action(self) -> Any:
        progress = self.num_timesteps / max(1, self.end_timesteps)
        return self._actions[self.codec.k_choices.index(self.k_at(progress))]
