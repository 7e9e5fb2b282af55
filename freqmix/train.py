"""One training run: data -> env -> agent drives the recognizer -> evaluation -> files in the output folder.

Files written to ``out``: ``config.json`` (the resolved configuration, written first), ``steps.csv`` (one row per
recognizer step), ``recognizer.pt`` (the recognizer checkpoint), ``agent.zip`` (learning agents: the SB3 model,
``agents.registry.load_agent`` reloads it), ``agent_logs/`` (learning agents: SB3's logger, ``progress.csv`` and
TensorBoard events when tensorboard is installed), ``metrics.json`` (written last).
"""
from __future__ import annotations

import importlib.util
import json
import time
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
    CHECKPOINT_NAME, Checkpointer, load_agent_state, load_checkpoint, require_checkpointable, restore_rng,
)
from freqmix.steplog import StepLog
from mixup_env import ENV_IDS
from freqmix.config_fields import pick
from mixup_env.env import EPISODES, EnvConfig, FreqMixUpEnv
from mixup_env.frequency import SELECTIONS, FrequencyTransform, TransformConfig
from mixup_env.masking import WEIGHT_SCHEMES, Recipe
from mixup_env.rewards import PRIVACY_TERMS, REWARDS, RewardConfig
from mixup_env.spaces import DROP_LEVELS, PAPER_K_CHOICES, WEIGHT_OPTIONS
from recognizer.data import (
    FaceDataset, PairSet, UnusablePairsError, load_dataset, load_lfw_pairs, make_pairs, private_split,
    split_per_identity,
)
from recognizer.evaluate import identification_accuracy, verification
from recognizer.trainer import Recognizer, RecognizerConfig
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

    data: str = _option("synthetic", "synthetic | PATH (one folder per identity) | olivetti | lfw")
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
    steps: int | None = _option(None, "recognizer steps", group="budget")
    epochs: float = _option(100, "epochs over the training split", group="budget")
    probe_every: int = _option(10, "clean-probe accuracy every N steps (0 = at episode ends only)")
    reward: str = _option("constrained", "constrained: privacy against the free analytic attack - λ × accuracy "
                          "shortfall, λ by dual ascent; loss: the paper's (recognition loss)", choices=REWARDS.names())
    accuracy_target: float = _option(0.85, "clean-probe accuracy below which a step has a cost")
    lambda_lr: float = _option(2.0, "constrained reward: dual ascent step on λ per probe and unit of shortfall")
    privacy: str = _option("loss", "constrained reward's privacy term: loss (of the mixed batch) or leakage "
                           "(1 - SSIM of the free analytic attack on it)", choices=PRIVACY_TERMS)
    constraint_start: float = _option(0.25, "constrained reward: share of the run from which the constraint binds")
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

    def recognizer_config(self) -> RecognizerConfig:
        """The recognizer of the run."""
        return pick(RecognizerConfig, self)

    def env_config(self, total_steps: int | None = None) -> EnvConfig:
        """The env of the run, planned for ``total_steps`` recognizer steps (cosine lr schedule; per episode with
        ``episode="run"``)."""
        return pick(EnvConfig, self, action=env_action(self.env), k_choices=self.k_choices(),
                    default_recipe=self.recipe(), transform=self.transform_config(),
                    recognizer=self.recognizer_config(), total_steps=total_steps, objective=pick(RewardConfig, self))

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
    """The data of a run: training and held-out faces of the same identities, and verification pairs."""

    train: FaceDataset
    test: FaceDataset
    pairs: PairSet
    pairs_protocol: str


def load_task(config: TrainConfig) -> Task:
    """Load ``config.data`` (only its private identities when ``private_fraction`` is set, so that attacks have
    disjoint auxiliary identities), split it per identity, and find or build verification pairs."""
    full = load_dataset(config.data, image_size=config.image_size, seed=config.seed,
                        drop_small=config.drop_small_identities)
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
            pairs = load_lfw_pairs(pairs_file, Path(config.data), image_size=config.image_size,
                                   color="rgb" if full.image_channels == 3 else "gray")
        except UnusablePairsError:
            if config.pairs:  # a pairs file the user named and that cannot be used is an error, not replaced
                raise
        else:
            return Task(train, test, pairs, f"LFW pairs file {pairs_file.name} ({len(pairs.same)} usable pairs)")
    # Pairs among the held-out images keep verification honest when no usable two-class pairs file exists;
    # half of them are same-identity pairs, so the identities' image counts bound how many there can be.
    counts = test.labels.bincount()
    same_available = int((counts * (counts - 1) // 2).sum())
    num_pairs = min(VERIFICATION_PAIRS, 2 * same_available)
    return Task(train, test, make_pairs(test, num_pairs, seed=config.seed),
                f"{num_pairs} pairs generated from the held-out images")


def env_action(env_id: str) -> str:
    """The action kind (``"k"`` or ``"recipe"``) of a registered FreqMixUp env id; UnknownNameError if unknown."""
    return ENV_IDS.get(env_id)


def make_env(config: TrainConfig, train: FaceDataset, total_steps: int) -> gym.Env:
    """The env for ``config`` on the training faces ``train``, relaxed to a Box (``BoxRelaxation``) when the agent
    acts in one (SAC, TD3)."""
    env = FreqMixUpEnv(train, config.env_config(total_steps))
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


def run_training(config: TrainConfig, out: Path, progress: bool = True, save_every: int | None = None,
                 stop_at: int | None = None, checkpoint: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Train as ``config`` says, write the run's files to ``out`` and return the metrics.

    :param save_every: write ``out/checkpoint.pt`` every this many recognizer steps (on-policy agents: at the
        first rollout boundary after each multiple).
    :param stop_at: write a checkpoint at this step and stop there (to split a run across jobs); returns None.
    :param checkpoint: continue the run in ``out`` from this checkpoint (see :func:`load_resume`); ``config`` is
        then that run's config, except ``config.steps`` which may extend the budget (the cosine lr schedule is then
        stretched to the new total).
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
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FreqmixError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    started = time.perf_counter()
    task = load_task(config)
    steps = total_steps(config, len(task.train))  # of one run (one episode with --episode run)
    agent_steps = steps * config.episodes
    done = int(checkpoint["steps_done"]) if checkpoint else 0
    if checkpoint and agent_steps <= done:
        raise FreqmixError(f"the checkpoint already covers {done} steps; pass --steps larger than that to extend")
    (out / "config.json").write_text(json.dumps({**json.loads(config.to_json()), "resolved_steps": steps}, indent=2))

    env = StepLog(make_env(config, task.train, steps), out / "steps.csv", keep_rows=done if checkpoint else None)
    agent = config.agent_config().build(env, seed=config.seed)
    if save_every or stop_at or checkpoint:
        require_checkpointable(agent)
    if isinstance(agent, BaseAlgorithm):
        formats = ["csv", "tensorboard"] if importlib.util.find_spec("tensorboard") else ["csv"]
        # A resumed run logs into its own folder so that the first part's progress.csv is kept.
        logs = out / "agent_logs" / (f"resumed_at_{done}" if checkpoint else "")
        agent.set_logger(configure(str(logs), formats))
    torch.manual_seed(config.seed)  # the agent's own torch draws (SB3 policies) follow the run's seed too
    if checkpoint:
        _restore(checkpoint, env, agent)
    saver = Checkpointer(out / CHECKPOINT_NAME, config.to_json(), env, agent, save_every, stop_at,
                         float(checkpoint["wall_seconds"]) if checkpoint else 0.0, started)
    try:
        final_obs = drive(env, agent, agent_steps, progress, start=done, saver=saver)
    finally:
        env.close()
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
                   steps_below_target=float(np.mean([row["cost"] > 0 for row in measured])))
    metrics["images_per_second"] = len(env.rows) * config.batch_size / metrics["wall_seconds"]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def load_resume(out: Path, steps: int | None = None) -> tuple[TrainConfig, dict[str, Any]]:
    """The checkpoint of the run in ``out`` and that run's config, with ``steps`` replacing its budget if given."""
    checkpoint = load_checkpoint(out / CHECKPOINT_NAME)
    config = TrainConfig.from_json(checkpoint["config"])
    if steps is not None:
        config.steps = steps
    return config, checkpoint


def _restore(checkpoint: dict[str, Any], env: StepLog, agent: Any) -> None:
    # The agent's env (SB3's Monitor and VecEnv included) refuses a step before its first reset: reset it through
    # its public API, then load the saved game over that fresh episode.
    agent.get_env().reset()
    env.unwrapped.load_state_dict(checkpoint["env"], reschedule=True)
    load_agent_state(agent, checkpoint["agent"], int(checkpoint["steps_done"]))
    restore_rng(checkpoint["rng"])


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
    bar.set_postfix(k=info["k"], loss=f"{info['loss']:.3f}")
    if info["error"]:
        raise FreqmixError(f"training stopped: {info['error']}; try a lower --lr")


class _StopRun(Exception):
    """Raised inside SB3's learn() when the run stops at a checkpoint (``stop_at``)."""


class _DriveCallback(BaseCallback):
    """Per env step of any agent: the progress bar, the error check, k and loss into SB3's logger, and a
    stop at exactly ``steps`` recognizer steps (on-policy algorithms would otherwise finish their rollout).
    Between rollouts (the rollout buffer empty, the update done) it writes checkpoints when due."""

    def __init__(self, bar: tqdm, steps: int, start: int, saver: Checkpointer | None) -> None:
        super().__init__()
        self.bar, self.steps, self.start, self.saver = bar, steps, start, saver
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
        return self.num_timesteps < self.steps


def drive(env: StepLog, agent: Any, steps: int, progress: bool, start: int = 0,
          saver: Checkpointer | None = None) -> np.ndarray | None:
    """Let ``agent`` choose the recipe of recognizer steps ``start + 1 .. steps`` through its ``learn()`` (SB3
    algorithms learn meanwhile; ``fixed`` and ``random`` only act), seeded at construction: its first reset uses
    the run's seed. A resumed run (``start > 0``) continues from the env's restored state without a reset.

    :return: the observation after the last step, or None when ``saver`` stopped the run at a checkpoint.
    """
    bar = tqdm(total=steps, initial=start, desc="recognizer steps", unit="step", disable=not progress, leave=False)
    callback = _DriveCallback(bar, steps, start, saver)
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
