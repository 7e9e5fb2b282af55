"""One training run: data -> env -> agent drives the recognizer -> evaluation -> files in the output folder.

Files written to ``out``: ``config.json`` (the resolved configuration, written first), ``steps.csv`` (one row per
recognizer step), ``recognizer.pt`` (the recognizer checkpoint), ``metrics.json`` (written last).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.registry import agent_spec, build_agent
from freqmix.steplog import StepLog
from mixup_env.env import FreqMixUpEnv
from mixup_env.frequency import FrequencyTransform
from mixup_env.masking import Recipe
from mixup_env.spaces import PAPER_K_CHOICES
from recognizer.data import FaceDataset, PairSet, load_dataset, load_lfw_pairs, make_pairs, split_per_identity
from recognizer.evaluate import identification_accuracy, verification
from recognizer.trainer import Recognizer

FINAL_LOSS_WINDOW = 10
VERIFICATION_PAIRS = 600


@dataclass
class TrainConfig:
    """Everything a run depends on; saved resolved as ``config.json`` next to the results."""

    data: str = "synthetic"
    agent: str = "fixed"
    k: int = 2
    env: str = "FreqMixUp-v0"
    channels: str = "all"
    n_high: int = 36
    key: int | None = None
    upsample: int = 1
    image_size: int = 112
    weights: str = "dirichlet"
    alpha: float = 1.0
    sign_flip: bool = False
    drop: float = 0.0
    backbone: str = "small"
    head: str = "arcface"
    embedding_dim: int = 128
    lr: float = 0.1
    batch_size: int = 32
    device: str = "cpu"
    steps: int | None = None
    epochs: float = 40
    probe_every: int = 0
    utility_weight: float = 0.0
    accuracy_floor: float = 0.9
    train_per_identity: int | None = None
    drop_small_identities: bool = False
    pairs: str | None = None
    seed: int = 0
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def k_choices(self) -> tuple[int, ...]:
        """The env's k choices: the paper's {2..6}, plus a fixed agent's k when it lies outside them."""
        extra = {self.k} if self.agent == "fixed" else set()
        return tuple(sorted(set(PAPER_K_CHOICES) | extra))


@dataclass
class Task:
    """The data of a run: training and held-out faces of the same identities, and verification pairs."""

    train: FaceDataset
    test: FaceDataset
    pairs: PairSet
    pairs_protocol: str


def load_task(config: TrainConfig) -> Task:
    """Load ``config.data``, split it per identity, and find or build verification pairs."""
    full = load_dataset(config.data, image_size=config.image_size, seed=config.seed,
                        drop_small=config.drop_small_identities)
    train, test = split_per_identity(full, config.train_per_identity, seed=config.seed)
    pairs_file = Path(config.pairs) if config.pairs else None
    if pairs_file is None and Path(config.data).is_dir() and (Path(config.data) / "pairs.txt").is_file():
        pairs_file = Path(config.data) / "pairs.txt"
    if pairs_file is not None:
        pairs = load_lfw_pairs(pairs_file, Path(config.data), image_size=config.image_size,
                               color="rgb" if full.image_channels == 3 else "gray")
        if 0 < int(pairs.same.sum()) < len(pairs.same):
            return Task(train, test, pairs, f"LFW pairs file {pairs_file.name} ({len(pairs.same)} usable pairs)")
    # Pairs among the held-out images keep verification honest when no usable two-class pairs file exists;
    # half of them are same-identity pairs, so the identities' image counts bound how many there can be.
    counts = test.labels.bincount()
    same_available = int((counts * (counts - 1) // 2).sum())
    num_pairs = min(VERIFICATION_PAIRS, 2 * same_available)
    return Task(train, test, make_pairs(test, num_pairs, seed=config.seed),
                f"{num_pairs} pairs generated from the held-out images")


def make_env(config: TrainConfig, train: FaceDataset, total_steps: int) -> FreqMixUpEnv:
    """The env for ``config`` on the training faces ``train``."""
    recipe = Recipe(k=2, weights=config.weights, alpha=config.alpha, sign_flip=config.sign_flip, drop=config.drop)
    action = {"FreqMixUp-v0": "k", "FreqMixUpRecipe-v0": "recipe"}.get(config.env)
    if action is None:
        raise ValueError(f"unknown env {config.env!r}; choose FreqMixUp-v0 or FreqMixUpRecipe-v0")
    return FreqMixUpEnv(train, action=action, k_choices=config.k_choices(), default_recipe=recipe,
                        channels=config.channels, n_high=config.n_high, key=config.key, upsample=config.upsample,
                        backbone=config.backbone, head=config.head, embedding_dim=config.embedding_dim,
                        lr=config.lr, batch_size=config.batch_size, device=config.device, total_steps=total_steps,
                        probe_every=config.probe_every, utility_weight=config.utility_weight,
                        accuracy_floor=config.accuracy_floor)


def total_steps(config: TrainConfig, train_size: int) -> int:
    """Recognizer steps of the run: ``steps`` if given, else ``epochs`` × steps per epoch (at least 1)."""
    if config.steps is not None:
        if config.steps < 1:
            raise ValueError(f"--steps must be >= 1, not {config.steps}")
        return config.steps
    if config.epochs <= 0:
        raise ValueError(f"--epochs must be > 0, not {config.epochs}")
    return max(1, round(config.epochs * (train_size // config.batch_size)))


def measure_utility(recognizer: Recognizer, transform: FrequencyTransform, task: Task) -> dict[str, Any]:
    """Identification (held-out images vs. training-image centroids) and verification on clean, masked faces."""
    gallery = recognizer.embed(transform(task.train.images))
    probe = recognizer.embed(transform(task.test.images))
    metrics: dict[str, Any] = {
        "identification_accuracy": identification_accuracy(gallery, task.train.labels, probe, task.test.labels)}
    ver = verification(recognizer.embed(transform(task.pairs.images_a)), recognizer.embed(transform(task.pairs.images_b)),
                       task.pairs.same, folds=10)
    metrics.update(verification_accuracy=ver["accuracy"], verification_std=ver["accuracy_std"],
                   tar_at_far={str(far): tar for far, tar in ver["tar_at_far"].items()},
                   verification_protocol=task.pairs_protocol)
    return metrics


def run_training(config: TrainConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Train as ``config`` says, write the run's files to ``out`` and return the metrics."""
    agent_spec(config.agent)  # unknown agent names fail before any data is read
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    task = load_task(config)
    steps = total_steps(config, len(task.train))
    (out / "config.json").write_text(json.dumps({**asdict(config), "resolved_steps": steps}, indent=2))

    env = StepLog(make_env(config, task.train, steps), out / "steps.csv")
    agent = build_agent(config.agent, env, seed=config.seed, k=config.k, hyperparams=config.hyperparams)
    torch.manual_seed(config.seed)  # the agent's own torch draws (SB3 policies) follow the run's seed too
    try:
        drive(env, agent, steps, config.seed, progress)
    finally:
        env.close()
    base = env.unwrapped
    base.recognizer.save(out / "recognizer.pt")

    losses = [row["loss"] for row in env.rows]
    ks = [int(row["k"]) for row in env.rows]
    metrics = measure_utility(base.recognizer, base.transform, task)
    metrics.update(final_loss=float(np.mean(losses[-FINAL_LOSS_WINDOW:])), mean_k=float(np.mean(ks)),
                   k_histogram={str(k): ks.count(k) for k in sorted(set(ks))}, steps=len(env.rows),
                   wall_seconds=time.perf_counter() - started)
    metrics["images_per_second"] = len(env.rows) * config.batch_size / metrics["wall_seconds"]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def drive(env: StepLog, agent: Any, steps: int, seed: int, progress: bool) -> None:
    """Let ``agent`` choose the recipe of each of ``steps`` recognizer steps (learning agents learn meanwhile)."""
    bar = tqdm(total=steps, desc="recognizer steps", unit="step", disable=not progress, leave=False)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        action, _ = agent.predict(obs, deterministic=False)
        obs, _, terminated, truncated, info = env.step(action)
        bar.update(1)
        bar.set_postfix(k=info["k"], loss=f"{info['loss']:.3f}")
        if info["error"]:
            raise ValueError(f"training stopped: {info['error']}; try a lower --lr")
        if truncated:
            obs, _ = env.reset()
    bar.close()
