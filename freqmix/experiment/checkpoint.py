"""Run checkpoints: one file, written atomically, holding everything a run needs to continue bit-identically.

``checkpoint.pt`` holds the env's state (recognizer, optimizer, generators, data order), the agent's state, the
global torch generator (SB3 samples actions from it), the steps done and the run's config. It contains only
plain types and tensors, so it is read with ``torch.load(weights_only=True)``: nothing is unpickled. The agent's
state comes through its checkpoint protocol (:mod:`agents.checkpointing`: the choosers' step count and generator;
on-policy SB3 algorithms' parameters, counters and last observation, saved between rollouts, when the rollout
buffer is empty); off-policy agents (DQN, SAC, TD3) would also need their replay buffer and are not checkpointed.
It also keeps the run's ``save_every``, so that a resumed run goes on saving on the same schedule.

A resumed SB3 agent logs into the same ``agent_logs/progress.csv``: :func:`continue_progress_csv` keeps the rows the
checkpoint covers and drops those logged after it (their steps are taken again).
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.logger import CSVOutputFormat, Logger

from agents.checkpointing import agent_state
from freqmix.experiment.steplog import StepLog
from freqmix_base.atomic import save_atomically
from freqmix_base.errors import CheckpointError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "freqmix-run-checkpoint-1"
PROGRESS_CSV = "progress.csv"
PROGRESS_STEP_COLUMN = "time/total_timesteps"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then ``os.replace``, so a
    process killed mid-save leaves the previous checkpoint intact."""
    save_atomically({"format": FORMAT, **state}, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (``weights_only=True``); ValueError if it is missing, truncated or not ours."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train with --save-every N or --stop-at STEP to write one")
    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or not a freqmix checkpoint): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a freqmix run checkpoint")
    return state


def rng_snapshot() -> dict[str, Any]:
    """The global generators a run draws from outside the env: torch's (SB3 samples actions from it) and
    numpy's legacy one (SB3's rollout buffer shuffles minibatches with it), as tensors and plain numbers."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}


def restore_rng(snapshot: dict[str, Any]) -> None:
    """Restore :func:`rng_snapshot`."""
    torch.set_rng_state(snapshot["torch"])
    legacy = snapshot["numpy"]
    np.random.set_state((legacy["name"], legacy["keys"].numpy().astype(np.uint32), legacy["pos"],
                         legacy["has_gauss"], legacy["cached_gaussian"]))


class Checkpointer:
    """Writes the run's checkpoint when due and says when to stop (``stop_at``).

    :param config_json: the run's configuration as ``config.json`` holds it.
    :param env: the run's env, wrapped in its step log (flushed with every checkpoint).
    :param save_every: a checkpoint every this many steps (None: only at ``stop_at``).
    :param wall_before: wall seconds of earlier parts of a resumed run; ``started``: ``perf_counter()`` at start.
    """

    def __init__(self, path: Path, config_json: str, env: StepLog, agent: Any, save_every: int | None,
                 stop_at: int | None, wall_before: float, started: float) -> None:
        self.path, self.config_json, self.env, self.agent = path, config_json, env, agent
        self.save_every, self.stop_at = save_every, stop_at
        self.wall_before, self.started = wall_before, started
        self.last_saved: int | None = None

    def elapsed(self) -> float:
        """Wall seconds of the whole run, earlier parts of a resumed run included."""
        return self.wall_before + time.perf_counter() - self.started

    def due(self, done: int) -> bool:
        """Whether a checkpoint is due after ``done`` steps (at or past the next multiple, or the stop)."""
        if self.stop_at is not None and done >= self.stop_at:
            return True
        if not self.save_every:
            return False
        previous = self.last_saved or 0
        return done // self.save_every > previous // self.save_every

    def save(self, done: int) -> None:
        """Write the checkpoint covering ``done`` steps."""
        self.env.flush()
        save_checkpoint(self.path, {"config": self.config_json, "steps_done": done, "save_every": self.save_every,
                                    "wall_seconds": self.elapsed(), "env": self.env.unwrapped.state_dict(),
                                    "agent": agent_state(self.agent), "rng": rng_snapshot()})
        self.last_saved = done

    def should_stop(self, done: int) -> bool:
        """Whether the run stops after ``done`` steps."""
        return self.stop_at is not None and done >= self.stop_at


@dataclass
class KeptProgress:
    """The rows of an SB3 ``progress.csv`` that a checkpoint covers, to be written back after ``configure()``
    truncated the file.

    :param header: the file's columns, in order.
    :param lines: the kept rows, as the file held them (newline included).
    """

    header: list[str]
    lines: list[str]

    def restore(self, logger: Logger) -> None:
        """Write the kept rows into ``logger``'s (fresh) CSV output, whose later rows continue under the same
        columns (SB3 adds a column that appears later to every row, kept ones included)."""
        for output in logger.output_formats:
            if isinstance(output, CSVOutputFormat):
                output.keys = list(self.header)
                output.file.write(",".join(self.header) + "\n")
                output.file.writelines(self.lines)
                output.file.flush()


def continue_progress_csv(folder: Path, done: int) -> KeptProgress | None:
    """The rows of ``folder/progress.csv`` logged at or before step ``done`` (None without such a file)."""
    path = folder / PROGRESS_CSV
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        lines = f.readlines()
    if not lines:
        return None
    header = next(csv.reader(lines[:1]))
    if PROGRESS_STEP_COLUMN not in header:
        raise CheckpointError(f"{path} has no {PROGRESS_STEP_COLUMN} column; move it away to resume")
    column = header.index(PROGRESS_STEP_COLUMN)
    kept = [line for line, row in zip(lines[1:], csv.reader(lines[1:])) if row[column] and float(row[column]) <= done]
    return KeptProgress(header, kept)
