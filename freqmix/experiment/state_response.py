"""How a run's k depends on the training state, measured two ways for ``metrics.json``.

- **In the run** (:func:`k_by_probe_accuracy`): the steps binned by the clean-probe accuracy they were taken at,
  with the mean k of each bin. An agent that learns while it acts can answer the state through its learning
  alone (little mixing while accuracy is short, more once it holds), so this is what the run did, not what a
  frozen policy would do.
- **In the frozen policy** (:func:`policy_k_by_probe_accuracy`): the expected k the final policy gives the final
  observation with only its probe-accuracy feature changed. A flat answer means the policy ignores that state,
  so deployed without learning it is a (random) fixed k.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.policies import action_probabilities
from mixup_env.spaces import STATE_FIELDS

BIN_WIDTH = 0.1
PROBE_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def k_by_probe_accuracy(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Steps and mean k per probe-accuracy bin of width :data:`BIN_WIDTH` (empty bins left out).

    :param rows: the run's ``steps.csv`` rows (each with ``k`` and ``accuracy``, the last probe's, 0..1).
    :return: ``{"0.8-0.9": {"steps": n, "mean_k": m}, ...}`` in increasing accuracy; 1.0 falls in the last bin.
    """
    bins: dict[int, list[int]] = {}
    last = int(round(1 / BIN_WIDTH)) - 1
    for row in rows:
        index = min(last, int(float(row["accuracy"]) / BIN_WIDTH + 1e-9))
        bins.setdefault(index, []).append(int(row["k"]))
    return {f"{i * BIN_WIDTH:.1f}-{(i + 1) * BIN_WIDTH:.1f}": {"steps": len(ks), "mean_k": float(np.mean(ks))}
            for i, ks in sorted(bins.items())}


def policy_k_by_probe_accuracy(agent: Any, k_choices: Sequence[int], observation: np.ndarray
                               ) -> dict[str, float] | None:
    """Expected k of the frozen policy at ``observation`` with its probe-accuracy feature set to each value of
    :data:`PROBE_GRID`; None for agents without a categorical policy over k (fixed, random, schedules, SAC/TD3).

    :param agent: the trained agent.
    :param k_choices: the k each value of the action's first dimension stands for.
    :param observation: one FreqMixUp observation ``(obs_dim,)`` (the training-state fields first).
    """
    if not isinstance(agent, BaseAlgorithm):
        return None
    index = STATE_FIELDS.index("probe_accuracy")
    ks = np.asarray(k_choices, dtype=np.float64)
    response = {}
    for accuracy in PROBE_GRID:
        varied = np.array(observation, dtype=np.float32, copy=True)
        varied[index] = accuracy
        probabilities = action_probabilities(agent, varied)
        if probabilities is None:
            return None
        response[f"{accuracy:.1f}"] = float(probabilities[0] @ ks)
    return response
