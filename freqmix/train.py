"""One training run: data -> env -> agent drives the recognizer -> evaluation -> files in the output folder.

Files written to ``out``: ``config.json`` (the resolved configuration, written first), ``steps.csv`` (one row per
recognizer step), ``recognizer.pt`` (the recognizer checkpoint), ``agent.zip`` (learning agents: the SB3 model,
``agents.registry.load_agent`` reloads it), ``agent_logs/`` (learning agents: SB3's logger, ``progress.csv`` and
TensorBoard events when tensorboard is installed), ``tensorboard/`` (every agent: the recognizer's scalars per step,
when tensorboard is installed), ``metrics.json`` (written last). Every option is checked and the data loaded before
the first of them is written; a non-empty ``out`` is refused unless ``overwrite`` (or a checkpoint is resumed).
"""
from __future__ import annotations

import gc
import importlib.util
import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from tqdm import tqdm

from agents.continuous import BoxRelaxation
from agents.policies import action_probabilities
from agents.registry import AgentConfig, agent_spec, resolve_hyperparams
from freqmix.checkpoint import (
    CHECKPOINT_NAME, Checkpointer, continue_progress_csv, load_agent_state, load_checkpoint, require_checkpointable,
    restore_rng,
)
from freqmix.lockstep import LockstepBroadcast, follow
from freqmix.progress_bar import progress_bar
from freqmix.run_folder import claim_output_folder
from freqmix.scalars import RecognizerScalars
from freqmix.steplog import StepLog
from freqmix.state_response import k_by_probe_accuracy, policy_k_by_probe_accuracy
from mixup_env import ENV_IDS
from freqmix.config_fields import pick
from mixup_env.env import EPISODES, EnvConfig, FreqMixUpEnv
from mixup_env.frequency import SELECTIONS, FrequencyTransform, TransformConfig
from mixup_env.masking import WEIGHT_SCHEMES, Recipe
from mixup_env.rewards import ASCENTS, PRIVACY_TERMS, REWARDS, RewardConfig
from mixup_env.spaces import DROP_LEVELS, PAPER_K_CHOICES, WEIGHT_OPTIONS
from recognizer.data import (
    FaceDataset, PairSet, UnusablePairsError, load_dataset, load_lfw_pairs, make_pairs, private_split,
    split_per_identity,
)
from recognizer.distributed import (
    ProcessGroup, check_world, join_process_group, leave_process_group, spawn, torchrun_world_size,
)
from recognizer.evaluate import identification_accuracy, insightface_verification, verification
from recognizer.insightface_io import load_bin
from recognizer.streaming import StreamedTrainingSet
from recognizer.trainer import PRECISIONS, Recognizer, RecognizerConfig
from freqmix.errors import FreqmixError

FINAL_LOSS_WINDOW = 10
ACTION_WINDOW = 50  # last actions behind the empirical action distribution of agents without a categorical policy
VERIFICATION_PAIRS = 600


def _option(default: Any, help: str, **argparse_kwargs: Any) -> Any:
    """A TrainConfig field that ``freqmix.cli.add_train_options`` offers as ``--name`` (``help`` and the extra
    argparse arguments, e.g. ``choices``, are its flag's; ``group`` names a mutually exclusive group)."""
    return field(default=default, metadata={"help": help, **argparse_kwargs})


@dataclass
class TrainConfig:
    """Everything a run depends on, as the user gives it (one field per command-line option); saved resolved as
    ``config.json`` next to the results. The typed configurations of the pieces are derived from it by field name
    (:meth:`env_config`, :meth:`agent_config`, ...)."""

    data: str = _option("synthetic", "synthetic | PATH (one folder per identity) | PATH/train.rec (insightface, "
                        "train.idx beside it) | olivetti | lfw")
    agent: str = "fixed"
    k: int = 2
    env: str = "FreqMixUp-v0"
    channels: str = _option("all", "frequency channels kept", choices=SELECTIONS)
    n_high: int = _option(36, "channels per plane kept by --channels high")
    key: int | None = _option(None, "secret key of the channel shuffle (default: none)")
    upsample: int = _option(1, "×s upsampling before the DCT")
    image_size: int = _option(112, "square image side in pixels (×8)")
    weights: str = _option("dirichlet", "mixing weight scheme", choices=WEIGHT_SCHEMES)
    alpha: float = _option(1.0, "Dirichlet concentration")
    sign_flip: bool = _option(False, "random sign flip of mixed coefficients")
    drop: float = _option(0.0, "fraction of channels zeroed per mixed output")
    laplace_epsilon: float | None = _option(
        None, "DCTDP: Laplace noise of budget ε on the mixed coefficients (default: none)")
    backbone: str = _option("small", "small | iresnet18 | iresnet50")
    head: str = _option("arcface", "arcface | cosface | softmax")
    embedding_dim: int = _option(128, "embedding size")
    lr: float = _option(0.1, "recognizer SGD learning rate (cosine schedule)")
    batch_size: int = _option(32, "images per recognizer step")
    device: str = _option("cpu", "recognizer device (cpu, cuda); agents stay on the CPU")
    precision: str = _option("fp32", "recognizer arithmetic: fp32, or bf16/fp16 autocast (fp16: CUDA only)",
                             choices=PRECISIONS)
    channels_last: bool = _option(False, "channels-last memory format for the recognizer (for CUDA convolutions)")
    nproc: int = _option(1, "recognizer processes under torch.distributed (DDP over the global --batch-size; "
                            "gloo on CPU, NCCL on CUDA); rank 0 runs the agent")
    steps: int | None = _option(None, "recognizer steps", group="budget")
    epochs: float = _option(100, "epochs over the training split", group="budget")
    probe_every: int = _option(10, "clean-probe accuracy every N steps (0 = at episode ends only)")
    reward: str = _option("constrained", "constrained: privacy (--privacy) - λ × accuracy shortfall × the step's "
                          "share of the mixing, λ by dual ascent; loss: the paper's (recognition loss)",
                          choices=REWARDS.names())
    accuracy_target: float = _option(0.85, "clean-probe accuracy below which a step has a cost")
    lambda_lr: float = _option(2.0, "constrained reward: dual ascent step on λ per probe and unit of shortfall")
    privacy: str = _option("loss", "constrained reward's privacy term: loss (of the mixed batch) or leakage "
                           "(1 - SSIM of the free analytic attack on it)", choices=PRIVACY_TERMS)
    constraint_start: float = _option(0.0, "constrained reward: share of the run from which the constraint binds")
    lambda_kp: float = _option(0.0, "constrained reward: proportional gain (PID Lagrangian): the price of the "
                               "shortfall is λ + gain × shortfall")
    ascent: str = _option("conditional", "constrained reward: plain dual ascent on λ, or conditional (each step "
                          "scaled by how far the mixing since the last probe can still respond: no wind-up while k "
                          "is already the least)", choices=ASCENTS)
    utility_weight: float = _option(0.0, "loss reward: reward -= weight × the accuracy shortfall")
    episode: str = _option("epoch", "epoch: one long game; run: each episode trains a fresh recognizer for the "
                           "whole budget", choices=EPISODES)
    episodes: int = _option(1, "with --episode run: runs the agent learns over (the last one is measured)")
    train_identities: str = _option(
        "private", "with --private-fraction: train on the private identities, or on the disjoint auxiliary ones "
        "(learn a policy on faces its deployment never sees)", choices=("private", "auxiliary"))
    augment_shift: float = _option(
        0.07, "random translation of training images, as a fraction of the side (0 = off)")
    train_per_identity: int | None = _option(None, "training images per identity (default: half)")
    drop_small_identities: bool = _option(False, "drop identities with fewer than 2 images instead of failing")
    pairs: str | None = _option(None, "LFW-format pairs file for verification")
    val: list[str] | None = _option(None, "insightface .bin verification set (repeatable); its results go to "
                                    "metrics.json under val_sets.<file stem>", action="append", type=str,
                                    metavar="FILE.bin")
    stream: bool = _option(False, "read the training images batch by batch through DataLoader workers (sets larger "
                                  "than memory): trains on every image, measured by --val/--pairs only")
    data_workers: int = _option(2, "image-decoding processes of --stream")
    private_fraction: float | None = _option(
        None, "train on this share of the identities only; the rest are the attacker's (freqmix evaluate)")
    seed: int = _option(0, "the one seed of every generator")
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def k_choices(self) -> tuple[int, ...]:
        """The env's k choices: the paper's {2..6}, plus a fixed agent's k when it lies outside them."""
        extra = {self.k} if self.agent == "fixed" else set()
        return tuple(sorted(set(PAPER_K_CHOICES) | extra))

    # The typed configurations of the pieces a run builds, taken from the same-named fields of this record.
    def recipe(self) -> Recipe:
        """The recipe fields other than k (k is the agent's choice; 2 until it chooses)."""
        return pick(Recipe, self, k=2)

    def transform_config(self) -> TransformConfig:
        """The frequency transform of the run."""
        return pick(TransformConfig, self)

    def recognizer_config(self, data_parallel: bool = False) -> RecognizerConfig:
        """The recognizer of the run (``data_parallel``: one replica of a multi-process run)."""
        return pick(RecognizerConfig, self, data_parallel=data_parallel)

    def env_config(self, total_steps: int | None = None, data_parallel: bool = False) -> EnvConfig:
        """The env of the run, planned for ``total_steps`` recognizer steps (cosine lr schedule; per episode with
        ``episode="run"``); ``data_parallel``: one replica of a multi-process run."""
        return pick(EnvConfig, self, action=env_action(self.env), k_choices=self.k_choices(),
                    default_recipe=self.recipe(), transform=self.transform_config(),
                    recognizer=self.recognizer_config(data_parallel), total_steps=total_steps,
                    objective=pick(RewardConfig, self))

    def agent_config(self) -> AgentConfig:
        """The agent of the run (its own seed is the run's)."""
        return AgentConfig(name=self.agent, k=self.k, hyperparams=self.hyperparams, env_id=self.env)

    def to_json(self) -> str:
        """``config.json``'s text (without the resolved step count, which :func:`run_training` adds)."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The config ``config.json`` (or a checkpoint) holds; keys it does not know (``resolved_steps``) are
        skipped, keys it lacks (files of older versions) keep their defaults."""
        try:
            saved = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FreqmixError(f"config.json is not valid JSON: {exc}") from None
        if not isinstance(saved, dict):
            raise FreqmixError("config.json does not hold an object of options")
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})


@dataclass
class Task:
    """The data of a run: training and held-out faces of the same identities, verification pairs, and the
    insightface ``.bin`` sets of ``--val`` by file stem. A streamed run trains on every image: no held-out faces,
    and pairs only from a pairs file."""

    train: FaceDataset | StreamedTrainingSet
    test: FaceDataset | None
    pairs: PairSet | None
    pairs_protocol: str
    val_sets: dict[str, PairSet] = field(default_factory=dict)


def load_val_sets(paths: list[str] | None, image_size: int, color: str) -> dict[str, PairSet]:
    """The ``--val`` sets by file stem, decoded as ``color``; FreqmixError for two files of one stem."""
    sets: dict[str, PairSet] = {}
    for path in paths or []:
        stem = Path(path).stem
        if stem in sets:
            raise FreqmixError(f"two --val sets are named '{stem}'; metrics.json keys them by file stem, rename one")
        sets[stem] = load_bin(path, image_size=image_size, color=color)
    return sets


def load_task(config: TrainConfig) -> Task:
    """Load ``config.data`` (only its private identities when ``private_fraction`` is set, so that attacks have
    disjoint auxiliary identities), split it per identity, find or build verification pairs, and read the
    ``--val`` sets. With ``stream`` the training set is opened for streaming (every image) instead."""
    if config.stream:
        return _load_streamed_task(config)
    full = load_dataset(config.data, image_size=config.image_size, seed=config.seed,
                        drop_small=config.drop_small_identities)
    color = "rgb" if full.image_channels == 3 else "gray"
    val_sets = load_val_sets(config.val, config.image_size, color)
    split = private_split(full, config.private_fraction, config.train_per_identity, seed=config.seed)
    train, test = split.train, split.test
    if config.train_identities == "auxiliary":
        if split.auxiliary is None:
            raise FreqmixError("--train-identities auxiliary needs --private-fraction (the identities to leave out)")
        train, test = split_per_identity(split.auxiliary, config.train_per_identity, seed=config.seed)
    pairs_file = Path(config.pairs) if config.pairs else None
    if pairs_file is None and Path(config.data).is_dir() and (Path(config.data) / "pairs.txt").is_file():
        pairs_file = Path(config.data) / "pairs.txt"
    if pairs_file is not None:
        try:
            pairs = load_lfw_pairs(pairs_file, Path(config.data), image_size=config.image_size, color=color)
        except UnusablePairsError:
            if config.pairs:  # a pairs file the user named and that cannot be used is an error, not replaced
                raise
        else:
            return Task(train, test, pairs, f"LFW pairs file {pairs_file.name} ({len(pairs.same)} usable pairs)",
                        val_sets)
    # Pairs among the held-out images keep verification honest when no usable two-class pairs file exists;
    # half of them are same-identity pairs, so the identities' image counts bound how many there can be.
    counts = test.labels.bincount()
    same_available = int((counts * (counts - 1) // 2).sum())
    num_pairs = min(VERIFICATION_PAIRS, 2 * same_available)
    return Task(train, test, make_pairs(test, num_pairs, seed=config.seed),
                f"{num_pairs} pairs generated from the held-out images", val_sets)


def _load_streamed_task(config: TrainConfig) -> Task:
    if config.private_fraction is not None or config.train_per_identity is not None:
        raise FreqmixError("--stream trains on every image of the set; it takes no --private-fraction or "
                           "--train-per-identity (split the set on disk instead)")
    if config.data in ("synthetic", "olivetti", "lfw"):
        raise FreqmixError(f"--stream reads a folder tree or a train.rec, not '{config.data}' (drop --stream)")
    train = StreamedTrainingSet(config.data, config.image_size, num_workers=config.data_workers)
    color = "rgb" if train.image_channels == 3 else "gray"
    val_sets = load_val_sets(config.val, config.image_size, color)
    pairs, protocol = None, "none: --stream holds out no images; give --pairs or --val"
    if config.pairs:
        pairs = load_lfw_pairs(Path(config.pairs), Path(config.data), image_size=config.image_size, color=color)
        protocol = f"LFW pairs file {Path(config.pairs).name} ({len(pairs.same)} usable pairs)"
    if pairs is None and not val_sets:
        raise FreqmixError("--stream holds out no images to measure the recognizer on; give --val FILE.bin or "
                           "--pairs FILE")
    return Task(train, None, pairs, protocol, val_sets)


def hyperparams_for(base: TrainConfig, agent: str) -> dict[str, Any]:
    """The hyperparameter overrides of ``base`` (``--hp``) that agent ``agent`` gets in a command that runs several
    agents: all of them for a learning agent, none for fixed, random, the schedules and saved policies."""
    return dict(base.hyperparams) if agent_spec(agent).learns else {}


def env_action(env_id: str) -> str:
    """The action kind (``"k"`` or ``"recipe"``) of a registered FreqMixUp env id; UnknownNameError if unknown."""
    return ENV_IDS.get(env_id)


def make_env(config: TrainConfig, train: FaceDataset | StreamedTrainingSet, total_steps: int,
             group: ProcessGroup | None = None) -> gym.Env:
    """The env for ``config`` on the training faces ``train``, relaxed to a Box (``BoxRelaxation``) when the agent
    acts in one (SAC, TD3). In a multi-process run (``group``, this process being rank 0) every reset and step is
    sent to the other ranks first (:class:`LockstepBroadcast`)."""
    env: gym.Env = FreqMixUpEnv(train, config.env_config(total_steps, data_parallel=group is not None))
    if group is not None:
        env = LockstepBroadcast(env, group)
    return BoxRelaxation(env) if agent_spec(config.agent).box_actions else env


def total_steps(config: TrainConfig, train_size: int) -> int:
    """Recognizer steps of the run: ``steps`` if given, else ``epochs`` × steps per epoch (at least 1)."""
    if config.steps is not None:
        if config.steps < 1:
            raise FreqmixError(f"--steps must be >= 1, not {config.steps}")
        return config.steps
    if config.epochs <= 0:
        raise FreqmixError(f"--epochs must be > 0, not {config.epochs}")
    return max(1, round(config.epochs * (train_size // config.batch_size)))


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


def run_training(config: TrainConfig, out: Path, progress: bool = True, save_every: int | None = None,
                 stop_at: int | None = None, checkpoint: dict[str, Any] | None = None,
                 overwrite: bool = False) -> dict[str, Any] | None:
    """Train as ``config`` says, write the run's files to ``out`` and return the metrics.

    :param save_every: write ``out/checkpoint.pt`` every this many recognizer steps (on-policy agents: at the
        first rollout boundary after each multiple).
    :param stop_at: write a checkpoint at this step and stop there (to split a run across jobs); returns None.
    :param checkpoint: continue the run in ``out`` from this checkpoint (see :func:`load_resume`); ``config`` is
        then that run's config, except ``config.steps`` which may extend the budget (the cosine lr schedule is then
        stretched to the new total).
    :param overwrite: a new run may replace the freqmix files of a non-empty ``out`` (else OutputExistsError).

    ``config.nproc > 1`` spawns that many processes (see :func:`run_processes`); under torchrun (``WORLD_SIZE``
    set) this process joins the group instead: rank 0 does all of the above, the others follow its env.
    """
    # Unknown agent or env names and unknown hyperparameters fail before any data is read.
    env_action(config.env)
    resolve_hyperparams(config.agent, config.env, config.hyperparams)
    if config.seed < 0:
        raise FreqmixError(f"--seed must be a non-negative integer, not {config.seed}")
    if config.episodes < 1 or (config.episodes > 1 and config.episode != "run"):
        raise FreqmixError(f"--episodes {config.episodes}: give a number >= 1, and more than 1 only with --episode run")
    for name, value in (("--save-every", save_every), ("--stop-at", stop_at)):
        if value is not None and value < 1:
            raise FreqmixError(f"{name} must be >= 1, not {value}")
    world = torchrun_world_size()
    if world > 1 and config.nproc not in (1, world):
        raise FreqmixError(f"--nproc {config.nproc} under a launcher that started {world} processes; drop --nproc "
                           "(torchrun's --nproc-per-node decides)")
    check_world(world if world > 1 else config.nproc, config.device, config.batch_size)
    if config.nproc > 1 and world == 1:
        return run_processes(config, out, progress, save_every, stop_at, resume=checkpoint is not None,
                             overwrite=overwrite)
    group = join_process_group(config.device)
    try:
        return _train_here(config, out, progress, save_every, stop_at, checkpoint, overwrite, group)
    finally:
        if group is not None:
            # Left here, once the run's objects are collected, not by the atexit hook: a DDP replica torn down at
            # interpreter exit after its group can abort the process (rank 1 ended in SIGABRT once under xdist).
            gc.collect()
            leave_process_group()


def _train_here(config: TrainConfig, out: Path, progress: bool, save_every: int | None, stop_at: int | None,
                checkpoint: dict[str, Any] | None, overwrite: bool, group: ProcessGroup | None
                ) -> dict[str, Any] | None:
    """:func:`run_training` in this process (rank ``group.rank`` of a group, or alone when ``group`` is None)."""
    started = time.perf_counter()
    task = load_task(config)
    steps = total_steps(config, len(task.train))  # of one run (one episode with --episode run)
    agent_steps = steps * config.episodes
    done = int(checkpoint["steps_done"]) if checkpoint else 0
    if checkpoint and agent_steps <= done:
        raise FreqmixError(f"the checkpoint already covers {done} steps; pass --steps larger than that to extend")
    if group is not None and not group.is_main:
        follow(FreqMixUpEnv(task.train, config.env_config(steps, data_parallel=True)), group,
               checkpoint["env"] if checkpoint else None)
        return None
    env = make_env(config, task.train, steps, group)
    check_buildable(config, env)
    if not checkpoint:
        claim_output_folder(out, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FreqmixError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    (out / "config.json").write_text(json.dumps({**json.loads(config.to_json()), "resolved_steps": steps}, indent=2))

    env = StepLog(env, out / "steps.csv", keep_rows=done if checkpoint else None)
    agent = config.agent_config().build(env, seed=config.seed)
    if save_every or stop_at or checkpoint:
        require_checkpointable(agent)
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    if not tensorboard:
        warnings.warn("tensorboard is not installed, so this run writes no tensorboard/ folder (steps.csv holds the "
                      "same scalars); pip install 'freqmix[tensorboard]' for it", stacklevel=2)
    if isinstance(agent, BaseAlgorithm):
        logs = out / "agent_logs"
        # configure() starts progress.csv afresh; a resumed run writes back the rows its checkpoint covers.
        kept = continue_progress_csv(logs, done) if checkpoint else None
        agent.set_logger(configure(str(logs), ["csv", "tensorboard"] if tensorboard else ["csv"]))
        if kept is not None:
            kept.restore(agent.logger)
    scalars = RecognizerScalars(out / "tensorboard") if tensorboard else None
    torch.manual_seed(config.seed)  # the agent's own torch draws (SB3 policies) follow the run's seed too
    if checkpoint:
        _restore(checkpoint, env, agent)
    saver = Checkpointer(out / CHECKPOINT_NAME, config.to_json(), env, agent, save_every, stop_at,
                         float(checkpoint["wall_seconds"]) if checkpoint else 0.0, started)
    try:
        final_obs = drive(env, agent, agent_steps, progress, start=done, saver=saver, scalars=scalars)
    finally:
        env.close()
        if scalars is not None:
            scalars.close()
    if final_obs is None:
        return None
    base = env.unwrapped
    recognizer = base.trained_recognizer
    recognizer.save(out / "recognizer.pt")
    if isinstance(agent, BaseAlgorithm):
        agent.save(out / "agent.zip")

    measured = env.rows[-steps:]  # the last run: the recognizer saved and measured
    losses = [row["loss"] for row in measured]
    ks = [int(row["k"]) for row in measured]
    metrics = measure_utility(recognizer, base.transform, task)
    metrics.update(final_loss=float(np.mean(losses[-FINAL_LOSS_WINDOW:])), mean_k=float(np.mean(ks)),
                   k_histogram={str(k): ks.count(k) for k in sorted(set(ks))},
                   action_distribution=action_distribution(agent, base.codec, final_obs, ks), steps=len(measured),
                   wall_seconds=saver.elapsed())
    metrics.update(final_lambda=float(measured[-1]["lambda"]),
                   steps_below_target=float(np.mean([row["cost"] > 0 for row in measured])),
                   k_by_probe_accuracy=k_by_probe_accuracy(measured))
    response = policy_k_by_probe_accuracy(agent, base.codec.k_choices, final_obs)
    if response is not None:
        metrics["policy_k_by_probe_accuracy"] = response
    metrics["images_per_second"] = len(env.rows) * config.batch_size / metrics["wall_seconds"]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def check_buildable(config: TrainConfig, env: gym.Env) -> None:
    """Build the run's recognizer and an agent on ``env`` once and drop them, so that a bad backbone, head, device,
    learning rate or agent setting fails before anything is written (the env builds its recognizer only at its
    first reset, and is left as it was: not reset, not stepped)."""
    base = env.unwrapped
    Recognizer.from_config(base.transform.out_channels, base.train_data.num_identities, config.recognizer_config(),
                           seed=config.seed)
    config.agent_config().build(env, seed=config.seed)


def load_resume(out: Path, steps: int | None = None) -> tuple[TrainConfig, dict[str, Any]]:
    """The checkpoint of the run in ``out`` and that run's config, with ``steps`` replacing its budget if given."""
    checkpoint = load_checkpoint(out / CHECKPOINT_NAME)
    config = TrainConfig.from_json(checkpoint["config"])
    if steps is not None:
        config.steps = steps
    return config, checkpoint


def _restore(checkpoint: dict[str, Any], env: StepLog, agent: Any) -> None:
    # The agent's env (SB3's Monitor and VecEnv included) refuses a step before its first reset: reset it through
    # its public API, then load the saved game over that fresh episode (on every rank of a multi-process run).
    agent.get_env().reset()
    lockstep = _find_wrapper(env, LockstepBroadcast)
    if lockstep is not None:
        lockstep.restore(checkpoint["env"])
    else:
        env.unwrapped.load_state_dict(checkpoint["env"], reschedule=True)
    load_agent_state(agent, checkpoint["agent"], int(checkpoint["steps_done"]))
    restore_rng(checkpoint["rng"])


def _find_wrapper(env: gym.Env, kind: type[gym.Wrapper]) -> gym.Wrapper | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, kind):
            return env
        env = env.env
    return None


def run_processes(config: TrainConfig, out: Path, progress: bool = True, save_every: int | None = None,
                  stop_at: int | None = None, resume: bool = False, overwrite: bool = False) -> dict[str, Any] | None:
    """:func:`run_training` in ``config.nproc`` local processes under torch.distributed (as ``torchrun
    --standalone --nproc-per-node N -m freqmix.cli train ...`` would run it); the metrics rank 0 wrote, or None
    when it stopped at a checkpoint. A user error in any process is raised here as that process's FreqmixError.

    :param resume: every process continues from ``out``'s checkpoint.
    :param overwrite: as :func:`run_training`'s (rank 0 claims ``out``).
    """
    with tempfile.TemporaryDirectory(prefix="freqmix-ranks-") as scratch:
        try:
            spawn(_run_rank, config.nproc, (config, out, progress, save_every, stop_at, resume, overwrite, scratch))
        except Exception:  # torch.multiprocessing's ProcessRaised/ExitedException: look for a user error first
            errors = sorted(Path(scratch).glob("error.*"))
            if errors:
                raise FreqmixError(errors[0].read_text()) from None
            raise
        result = Path(scratch) / "metrics.json"
        return json.loads(result.read_text()) if result.is_file() else None


def _run_rank(config: TrainConfig, out: Path, progress: bool, save_every: int | None, stop_at: int | None,
              resume: bool, overwrite: bool, scratch: str) -> None:
    # One spawned process: its user errors go to a file the parent reads (an exception text would be a traceback),
    # and it exits non-zero so that torch stops the other ranks instead of leaving them waiting for it.
    rank = int(os.environ["RANK"])
    try:
        checkpoint = load_checkpoint(out / CHECKPOINT_NAME) if resume else None
        metrics = run_training(config, out, progress and rank == 0, save_every, stop_at, checkpoint, overwrite)
    except FreqmixError as exc:
        (Path(scratch) / f"error.{rank}").write_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise SystemExit(1) from None
    if rank == 0 and metrics is not None:
        (Path(scratch) / "metrics.json").write_text(json.dumps(metrics))


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


def _report_step(bar: tqdm, info: dict[str, Any]) -> None:
    """Advance the progress bar by one recognizer step; a non-finite loss ends the run with a one-line error."""
    bar.update(1)
    bar.set_postfix(k=info["k"], loss=f"{info['loss']:.3f}", refresh=False)  # shown at the bar's own pace
    if info["error"]:
        raise FreqmixError(f"training stopped: {info['error']}; try a lower --lr")


class _StopRun(Exception):
    """Raised inside SB3's learn() when the run stops at a checkpoint (``stop_at``)."""


class _DriveCallback(BaseCallback):
    """Per env step of any agent: the progress bar, the error check, k and loss into SB3's logger, and a
    stop at exactly ``steps`` recognizer steps (on-policy algorithms would otherwise finish their rollout).
    Between rollouts (the rollout buffer empty, the update done) it writes checkpoints when due."""

    def __init__(self, bar: tqdm, steps: int, start: int, saver: Checkpointer | None,
                 scalars: RecognizerScalars | None = None) -> None:
        super().__init__()
        self.bar, self.steps, self.start, self.saver, self.scalars = bar, steps, start, saver, scalars
        self.last_obs: np.ndarray | None = None

    def _on_rollout_start(self) -> None:
        done = self.model.num_timesteps
        if self.saver is not None and done > self.start and self.saver.due(done):
            self.saver.save(done)
            if self.saver.should_stop(done):
                raise _StopRun

    def _on_step(self) -> bool:
        info = self.locals["infos"][0]
        self.last_obs = self.locals["new_obs"][0]
        _report_step(self.bar, info)
        self.logger.record_mean("freqmix/k", info["k"])
        self.logger.record_mean("freqmix/loss", info["loss"])
        if self.scalars is not None:
            self.scalars.record(info)
        return self.num_timesteps < self.steps


def drive(env: StepLog, agent: Any, steps: int, progress: bool, start: int = 0,
          saver: Checkpointer | None = None, scalars: RecognizerScalars | None = None) -> np.ndarray | None:
    """Let ``agent`` choose the recipe of recognizer steps ``start + 1 .. steps`` through its ``learn()`` (SB3
    algorithms learn meanwhile; ``fixed`` and ``random`` only act), seeded at construction: its first reset uses
    the run's seed. A resumed run (``start > 0``) continues from the env's restored state without a reset.

    :param scalars: where every step's recognizer scalars go (TensorBoard), if anywhere.

    :return: the observation after the last step, or None when ``saver`` stopped the run at a checkpoint.
    """
    bar = progress_bar(total=steps, initial=start, desc="recognizer steps", unit="step", disable=not progress,
                       leave=False)
    callback = _DriveCallback(bar, steps, start, saver, scalars)
    # log_interval 1: a log row per update (on-policy) or per episode (off-policy); SB3's defaults (A2C: every
    # 100 updates) would leave a run of a few hundred steps without a row.
    try:
        agent.learn(total_timesteps=steps - start, callback=callback, log_interval=1, reset_num_timesteps=start == 0)
    except _StopRun:
        return None
    finally:
        bar.close()
    # A chooser's run ends between two steps, where a checkpoint is exact; an SB3 run ends inside a rollout.
    if saver is not None and not isinstance(agent, BaseAlgorithm) and saver.due(steps):
        saver.save(steps)
        if saver.should_stop(steps):
            return None
    return callback.last_obs
