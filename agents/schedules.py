"""Hand-designed k schedules, the baselines an adaptive agent must beat: k follows the run's progress, not its state.

- ``linear``: a ramp from the smallest to the largest k choice (2 -> 6 on the paper's choices);
- ``step``: the smallest k for the first half of the run, the largest for the second;
- ``cosine``: the ramp eased by a half cosine (slow at both ends, like the recognizer's lr schedule).

Each maps progress p in [0, 1) (recognizer steps done / the run's steps) to a k between the smallest and the
largest choice and takes the nearest choice (the chooser that follows one: :class:`agents.baselines.KSchedule`). No
torch here: the agent registry names the schedules from this module. Mixing little early and much late lets the recognizer learn from
near-clean batches first; all three spend the same mean mixing on the paper's choices (mean k 4).
"""
from __future__ import annotations

import math
from typing import Callable

from freqmix_base.registry import Registry

SCHEDULES: Registry[Callable[[float], float]] = Registry("schedule", "--agent")
SCHEDULES.register("linear", lambda p: p)
SCHEDULES.register("step", lambda p: 0.0 if p < 0.5 else 1.0)
SCHEDULES.register("cosine", lambda p: (1 - math.cos(math.pi * p)) / 2)
