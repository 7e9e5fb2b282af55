"""Interleaved timing: candidates take turns in every round, so machine load that comes and goes hits all of them,
and a figure is the median over rounds of the per-round ratio (with its quartiles as the spread).

Time is the process's CPU time (``time.process_time``): on a machine shared with other jobs, the time spent
waiting for a core is not the code's cost. Wall-clock time is kept alongside.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

DEFAULT_ROUNDS = 15  # interleaved rounds per figure of ``freqmix bench``

@dataclass
class Timings:
    """Seconds per call, per round: ``cpu[name]`` and ``wall[name]`` are float64 arrays ``(rounds,)``."""

    cpu: dict[str, np.ndarray]
    wall: dict[str, np.ndarray]


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int,
                calls: int | dict[str, int] = 1) -> Timings:
    """Time every candidate in each of ``rounds`` rounds.

    In a round each candidate runs ``calls`` times back to back (``calls[name]`` when a dict: fast candidates can
    repeat so that both sides of a ratio span similar times); the order of the candidates rotates from round to
    round so that none always runs first.
    """
    names = list(candidates)
    per_call = {name: calls[name] if isinstance(calls, dict) else calls for name in names}
    if rounds < 1 or min(per_call.values()) < 1:
        raise ValueError(f"rounds and calls must be >= 1, got {rounds} and {per_call}")
    cpu = {name: np.empty(rounds) for name in names}
    wall = {name: np.empty(rounds) for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn, n = candidates[name], per_call[name]
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            cpu[name][r] = (time.process_time() - cpu_start) / n
            wall[name][r] = (time.perf_counter() - wall_start) / n
    return Timings(cpu, wall)


@dataclass
class Ratio:
    """A figure: numerator time ÷ denominator time, measured side by side.

    :param value: median over rounds of the per-round ratio of CPU times.
    :param q25, q75: quartiles of those per-round ratios (the spread).
    :param wall_value: the same median computed from wall-clock times.
    :param numerator_ms, denominator_ms: median CPU milliseconds per call of each side.
    :param rounds: rounds measured.
    :param goal: the target, e.g. ``"<= 1.05"`` or ``">= 20"``; ``""`` for an informational figure.
    :param met: whether ``value`` reaches the goal (None without one).
    :param what: one line saying what both sides do.
    :param check: one line showing that both sides computed the same thing.
    """

    value: float
    q25: float
    q75: float
    wall_value: float
    numerator_ms: float
    denominator_ms: float
    rounds: int
    goal: str
    met: bool | None
    what: str
    check: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def ratio(timings: Timings, numerator: str, denominator: str, goal: str, what: str, check: str = "") -> Ratio:
    """The :class:`Ratio` of two candidates of :func:`interleaved`; ``goal`` is ``"<= X"``, ``">= X"`` or ``""``."""
    per_round = timings.cpu[numerator] / timings.cpu[denominator]
    value = float(np.median(per_round))
    met = None
    if goal:
        op, bound = goal.split()
        met = value <= float(bound) if op == "<=" else value >= float(bound)
    return Ratio(value=value, q25=float(np.percentile(per_round, 25)), q75=float(np.percentile(per_round, 75)),
                 wall_value=float(np.median(timings.wall[numerator] / timings.wall[denominator])),
                 numerator_ms=float(np.median(timings.cpu[numerator])) * 1e3,
                 denominator_ms=float(np.median(timings.cpu[denominator])) * 1e3, rounds=len(per_round), goal=goal,
                 met=met, what=what, check=check)
