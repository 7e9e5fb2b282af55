"""The driver loop: the agent's ``learn()`` chooses the recipe of every recognizer step, with a progress bar,
per-step scalars, an error check, and checkpoints between rollouts."""
from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm

from freqmix.experiment.checkpoint import Checkpointer
from freqmix.experiment.scalars import RecognizerScalars
from freqmix.experiment.steplog import StepLog
from freqmix_base.errors import FreqmixError
from freqmix_base.progress_bar import progress_bar


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
