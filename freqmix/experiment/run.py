"""One training run in this process: data -> env -> agent drives the recognizer -> evaluation -> files in the
output folder.

Files written to ``out``: ``config.json`` (the resolved configuration, written first), ``steps.csv`` (one row per
recognizer step), ``recognizer.pt`` (the recognizer checkpoint), ``agent.zip`` (learning agents: the SB3 model,
``agents.build.load_agent`` reloads it), ``agent_logs/`` (learning agents: SB3's logger, ``progress.csv`` and
TensorBoard events when tensorboard is installed), ``tensorboard/`` (every agent: the recognizer's scalars per step,
when tensorboard is installed), ``metrics.json`` (written last). Every option is checked and the data loaded before
the first of them is written; a non-empty ``out`` is refused unless ``overwrite`` (or a checkpoint is resumed).
"""
from __future__ import annotations

import importlib.util
import json
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import configure

from agents.checkpointing import load_agent_state, require_checkpointable
from agents.build import build_configured
from freqmix.experiment.assembly import check_buildable, make_env, total_steps
from freqmix.experiment.checkpoint import (
    CHECKPOINT_NAME, Checkpointer, continue_progress_csv, load_checkpoint, restore_rng,
)
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.leakage_decoder import leakage_decoder, needs_leakage_decoder
from freqmix.experiment.lockstep import LockstepBroadcast, follow
from freqmix.experiment.loop import drive
from freqmix.experiment.pretraining import load_public_faces, pretrained_backbone
from freqmix.experiment.reporting import run_metrics
from freqmix.experiment.run_folder import THREADS_KEY, claim_output_folder
from freqmix.experiment.scalars import RecognizerScalars
from freqmix.experiment.steplog import StepLog
from freqmix.experiment.task import load_task
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from recognizer.distributed import ProcessGroup


def train_here(config: TrainConfig, out: Path, progress: bool, save_every: int | None, stop_at: int | None,
                checkpoint: dict[str, Any] | None, overwrite: bool, group: ProcessGroup | None
                ) -> dict[str, Any] | None:
    """:func:`run_training` in this process (rank ``group.rank`` of a group, or alone when ``group`` is None)."""
    started = time.perf_counter()
    task = load_task(config)
    steps = total_steps(config, len(task.train))  # of one run (one episode with --episode run)
    agent_steps = steps * config.training.episodes
    done = int(checkpoint["steps_done"]) if checkpoint else 0
    if checkpoint and agent_steps <= done:
        raise FreqmixError(f"the checkpoint already covers {done} steps; pass --steps larger than that to extend")
    if group is not None and not group.is_main:
        follow(FreqMixUpEnv(task.train, config.env_config(steps, data_parallel=True), pool=task.pool), group,
               checkpoint["env"] if checkpoint else None)
        return None
    # A resumed run's checkpoint holds the recognizer, so its pretrained start is not needed again.
    pretrain = config.task.pretrain_on and not checkpoint
    public = load_public_faces(config, task.train.image_channels) if pretrain else None
    env = make_env(config, task.train, steps, group, task.pool)
    check_buildable(config, env)
    _open_folder(out, config, steps, resumed=checkpoint is not None, overwrite=overwrite)
    # Minutes of training each, so only once the output folder is claimed.
    if public is not None:
        env.unwrapped.initial_backbone = pretrained_backbone(config, public, progress)
    if needs_leakage_decoder(config):
        env.unwrapped.use_leakage_attack(leakage_decoder(config, progress))
    env = StepLog(env, out / "steps.csv", keep_rows=done if checkpoint else None)
    agent = build_configured(config.agent, env, seed=config.seed)
    if save_every or stop_at or checkpoint:
        require_checkpointable(agent)
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    if not tensorboard:
        warnings.warn("tensorboard is not installed, so this run writes no tensorboard/ folder (steps.csv holds the "
                      "same scalars); pip install 'freqmix[tensorboard]' for it", stacklevel=2)
    if isinstance(agent, BaseAlgorithm):
        _agent_logs(agent, out / "agent_logs", done if checkpoint else None, tensorboard)
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
    base.trained_recognizer.save(out / "recognizer.pt")
    if isinstance(agent, BaseAlgorithm):
        agent.save(out / "agent.zip")
    metrics = run_metrics(base, task, env.rows, steps, agent, final_obs, saver.elapsed(), config.training.batch_size)
    metrics["torch_threads"] = torch.get_num_threads()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _open_folder(out: Path, config: TrainConfig, steps: int, resumed: bool, overwrite: bool) -> None:
    """Claim ``out`` for a new run (a resumed one owns it already) and write ``config.json`` first."""
    if not resumed:
        claim_output_folder(out, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FreqmixError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    # The thread count belongs to the run's record: a rerun reproduces the run bit for bit only under the same one.
    (out / "config.json").write_text(json.dumps({**json.loads(config.to_json()), "resolved_steps": steps,
                                                 THREADS_KEY: torch.get_num_threads()}, indent=2))


def _agent_logs(agent: BaseAlgorithm, logs: Path, resumed_at: int | None, tensorboard: bool) -> None:
    """SB3's logger into ``logs`` (CSV, and TensorBoard when installed); a run resumed at step ``resumed_at``
    keeps the rows of ``progress.csv`` its checkpoint covers (``configure()`` starts the file afresh)."""
    kept = continue_progress_csv(logs, resumed_at) if resumed_at is not None else None
    agent.set_logger(configure(str(logs), ["csv", "tensorboard"] if tensorboard else ["csv"]))
    if kept is not None:
        kept.restore(agent.logger)


def load_resume(out: Path, steps: int | None = None) -> tuple[TrainConfig, dict[str, Any]]:
    """The checkpoint of the run in ``out`` and that run's config, with ``steps`` replacing its budget if given."""
    checkpoint = load_checkpoint(out / CHECKPOINT_NAME)
    config = TrainConfig.from_json(checkpoint["config"])
    if steps is not None:
        config = config.with_options(steps=steps)
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
