"""Launch of a run: option checks that need no data, then the run in this process, in ``--nproc`` spawned
processes under torch.distributed, or as one rank of a torchrun group."""
from __future__ import annotations

import gc
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from agents.build import resolve_hyperparams
from freqmix.experiment.checkpoint import CHECKPOINT_NAME, load_checkpoint
from freqmix.experiment.config import TrainConfig, env_action
from freqmix.experiment.leakage_decoder import check_leakage_decoder, needs_leakage_decoder
from freqmix.experiment.run import train_here
from freqmix_base.errors import FreqmixError
from recognizer.distributed import check_world, join_process_group, leave_process_group, spawn, torchrun_world_size


def run_training(config: TrainConfig, out: Path, progress: bool = True, save_every: int | None = None,
                 stop_at: int | None = None, checkpoint: dict[str, Any] | None = None,
                 overwrite: bool = False) -> dict[str, Any] | None:
    """Train as ``config`` says, write the run's files to ``out`` and return the metrics.

    :param save_every: write ``out/checkpoint.pt`` every this many recognizer steps (on-policy agents: at the
        first rollout boundary after each multiple).
    :param stop_at: write a checkpoint at this step and stop there (to split a run across jobs); returns None.
    :param checkpoint: continue the run in ``out`` from this checkpoint (see :func:`load_resume`); ``config`` is
        then that run's config, except ``config.training.steps`` which may extend the budget (the cosine lr schedule
        is then stretched to the new total).
    :param overwrite: a new run may replace the freqmix files of a non-empty ``out`` (else OutputExistsError).

    ``config.training.nproc > 1`` spawns that many processes (see :func:`run_processes`); under torchrun (``WORLD_SIZE``
    set) this process joins the group instead: rank 0 does all of the above, the others follow its env.
    """
    # Unknown agent or env names and unknown hyperparameters fail before any data is read.
    env_action(config.agent.env_id)
    resolve_hyperparams(config.agent.name, config.agent.env_id, config.agent.hyperparams)
    training = config.training
    if training.episodes < 1 or (training.episodes > 1 and training.episode != "run"):
        raise FreqmixError(f"--episodes {training.episodes}: give a number >= 1, and more than 1 only with --episode "
                           "run")
    for name, value in (("--save-every", save_every), ("--stop-at", stop_at)):
        if value is not None and value < 1:
            raise FreqmixError(f"{name} must be >= 1, not {value}")
    world = torchrun_world_size()
    if world > 1 and config.training.nproc not in (1, world):
        raise FreqmixError(f"--nproc {config.training.nproc} under a launcher that started {world} processes; drop "
                           "--nproc (torchrun's --nproc-per-node decides)")
    check_world(world if world > 1 else config.training.nproc, config.recognizer.device, config.training.batch_size)
    if config.task.pretrain_on is not None and max(world, config.training.nproc) > 1:
        # The other ranks build their replicas from the config alone and would start from random weights.
        raise FreqmixError("--pretrain-on starts one process's recognizer: drop --nproc (or torchrun)")
    if needs_leakage_decoder(config):
        check_leakage_decoder(config, max(world, config.training.nproc))
    if config.training.nproc > 1 and world == 1:
        return run_processes(config, out, progress, save_every, stop_at, resume=checkpoint is not None,
                             overwrite=overwrite)
    group = join_process_group(config.recognizer.device)
    try:
        return train_here(config, out, progress, save_every, stop_at, checkpoint, overwrite, group)
    finally:
        if group is not None:
            # Left here, once the run's objects are collected, not by the atexit hook: a DDP replica torn down at
            # interpreter exit after its group can abort the process (rank 1 ended in SIGABRT once under xdist).
            gc.collect()
            leave_process_group()


def run_processes(config: TrainConfig, out: Path, progress: bool = True, save_every: int | None = None,
                  stop_at: int | None = None, resume: bool = False, overwrite: bool = False) -> dict[str, Any] | None:
    """:func:`run_training` in ``config.training.nproc`` local processes under torch.distributed (as ``torchrun
    --standalone --nproc-per-node N -m freqmix.cli train ...`` would run it); the metrics rank 0 wrote, or None
    when it stopped at a checkpoint. A user error in any process is raised here as that process's FreqmixError.

    :param resume: every process continues from ``out``'s checkpoint.
    :param overwrite: as :func:`run_training`'s (rank 0 claims ``out``).
    """
    with tempfile.TemporaryDirectory(prefix="freqmix-ranks-") as scratch:
        try:
            spawn(_run_rank, config.training.nproc,
                  (config, out, progress, save_every, stop_at, resume, overwrite, scratch))
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
