"""What a finished run reports in ``metrics.json``: utility on clean masked faces (identification, verification,
``--val`` sets), the k and recipes the agent chose, its action distribution and its response to the probe accuracy."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.policies import action_probabilities
from freqmix.experiment.steplog import recipe_of
from freqmix.experiment.state_response import k_by_probe_accuracy, policy_k_by_probe_accuracy
from freqmix.experiment.task import Task
from mixup_env.frequency import FrequencyTransform
from mixup_env.spaces import DROP_LEVELS, WEIGHT_OPTIONS
from recognizer.accuracy import identification_accuracy, insightface_verification, verification
from recognizer.faces import PairSet
from recognizer.trainer import Recognizer

FINAL_LOSS_WINDOW = 10


ACTION_WINDOW = 50  # last actions behind the empirical action distribution of agents without a categorical policy


def measure_utility(recognizer: Recognizer, transform: FrequencyTransform, task: Task) -> dict[str, Any]:
    """Identification (held-out images vs. training-image centroids) and verification on clean, masked faces, in
    the pairs' own folds; each ``--val`` set under ``val_sets.<stem>``. What a streamed run cannot measure (no
    held-out images) is None."""
    metrics: dict[str, Any] = {"identification_accuracy": None}
    if task.test is not None:
        gallery = recognizer.embed(transform(task.train.images))
        probe = recognizer.embed(transform(task.test.images))
        metrics["identification_accuracy"] = identification_accuracy(gallery, task.train.labels, probe,
                                                                      task.test.labels)
    metrics.update(verification_accuracy=None, verification_protocol=task.pairs_protocol)
    if task.pairs is not None:
        pairs = task.pairs
        ver = verification(recognizer.embed(transform(pairs.images_a)), recognizer.embed(transform(pairs.images_b)),
                           pairs.same, fold=pairs.fold)
        # Two TAR@FAR figures that must not be compared with each other: one ROC pooled over all pairs, and
        # insightface's VAL@FAR (threshold from nine folds, measured on the tenth), the one papers quote.
        metrics.update(verification_accuracy=ver["accuracy"], verification_std=ver["accuracy_std"],
                       tar_at_far_pooled={str(far): tar for far, tar in ver["tar_at_far"].items()},
                       val_at_far_insightface={str(far): v for far, v in ver["val_at_far_insightface"].items()})
    if task.val_sets:
        metrics["val_sets"] = {stem: measure_val_set(recognizer, transform, pairs)
                               for stem, pairs in task.val_sets.items()}
    return metrics


def measure_val_set(recognizer: Recognizer, transform: FrequencyTransform, pairs: PairSet) -> dict[str, Any]:
    """insightface's protocol on one ``.bin`` set (10 folds in file order, squared L2 of unit embeddings, no flipped
    copies): ``accuracy``, ``accuracy_std``, ``best_threshold``, ``val_at_far_insightface`` (``{"0.001": {val,
    val_std, far}}``), and the pooled-ROC ``tar_at_far_pooled`` beside it."""
    emb_a, emb_b = recognizer.embed(transform(pairs.images_a)), recognizer.embed(transform(pairs.images_b))
    ours = insightface_verification(emb_a, emb_b, pairs.same)
    pooled = verification(emb_a, emb_b, pairs.same, fold=pairs.fold)
    return {"pairs": len(pairs), "accuracy": ours["accuracy"], "accuracy_std": ours["accuracy_std"],
            "best_threshold": ours["best_threshold"],
            "val_at_far_insightface": {str(far): v for far, v in ours["val_at_far"].items()},
            "tar_at_far_pooled": {str(far): tar for far, tar in pooled["tar_at_far"].items()}}


def action_distribution(agent: Any, codec: Any, observation: np.ndarray, ks: list[int]) -> dict[str, Any]:
    """The agent's action distribution for metrics.json: a categorical policy's probabilities at the final
    observation (REINFORCE, PPO, A2C; DQN's epsilon-greedy ones), else the share of each k among the last
    ``ACTION_WINDOW`` steps (fixed, random, SAC/TD3 whose Box policy has no probability per choice).

    :param codec: the env's ``ActionCodec`` (names the choices).
    :param observation: the observation after the last step.
    :param ks: the k of every step, in order.
    """
    probs = action_probabilities(agent, observation) if isinstance(agent, BaseAlgorithm) else None
    if probs is None:
        window = ks[-ACTION_WINDOW:]
        return {"source": f"empirical share of the last {len(window)} steps",
                "k": {str(k): window.count(k) / len(window) for k in codec.k_choices}}
    labels = {"k": [str(k) for k in codec.k_choices]}
    if codec.kind == "recipe":
        labels.update(weights=[f"{scheme}:{alpha:g}" for scheme, alpha in WEIGHT_OPTIONS], sign_flip=["off", "on"],
                      drop=[f"{level:g}" for level in DROP_LEVELS])
    return {"source": "policy probabilities at the final observation",
            **{dim: dict(zip(names, map(float, p))) for (dim, names), p in zip(labels.items(), probs)}}


def run_metrics(env: Any, task: Task, rows: list[dict[str, float]], steps: int, agent: Any,
                final_obs: np.ndarray, wall_seconds: float, batch_size: int) -> dict[str, Any]:
    """``metrics.json`` of a finished run: utility of the env's trained recognizer on ``task``, and what the agent
    chose over the last ``steps`` rows of the step log (the last run: the recognizer saved and measured).

    :param env: the unwrapped FreqMixUp env after the run.
    :param rows: every step-log row of the run; ``final_obs``: the observation after the last step.
    """
    measured = rows[-steps:]
    losses = [row["loss"] for row in measured]
    ks = [int(row["k"]) for row in measured]
    recipes = Counter(recipe_of(row, env.codec.default) for row in measured)
    metrics = measure_utility(env.trained_recognizer, env.transform, task)
    metrics.update(final_loss=float(np.mean(losses[-FINAL_LOSS_WINDOW:])), mean_k=float(np.mean(ks)),
                   k_histogram={str(k): ks.count(k) for k in sorted(set(ks))},
                   recipe_histogram=[{**asdict(recipe), "count": n} for recipe, n in recipes.most_common()],
                   action_distribution=action_distribution(agent, env.codec, final_obs, ks), steps=len(measured),
                   wall_seconds=wall_seconds)
    metrics.update(final_lambda=float(measured[-1]["lambda"]),
                   steps_below_target=float(np.mean([row["cost"] > 0 for row in measured])),
                   k_by_probe_accuracy=k_by_probe_accuracy(measured))
    response = policy_k_by_probe_accuracy(agent, env.codec.k_choices, final_obs)
    if response is not None:
        metrics["policy_k_by_probe_accuracy"] = response
    metrics["images_per_second"] = len(rows) * batch_size / metrics["wall_seconds"]
    return metrics
