"""TensorBoard scalars of the recognizer at every step, whichever agent chooses the recipe (fixed and random
included, which have no SB3 logger of their own).

Tags: ``recognizer/loss`` (the mixed batch's loss before the update), ``recognizer/lr``, ``agent/k``,
``agent/reward``, ``recognizer/probe_accuracy`` (at the steps that measure it), and ``agent/cost`` when the env
reports a cost (the Safety-Gymnasium convention). The x axis is the recognizer step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

SCALARS = {"loss": "recognizer/loss", "lr": "recognizer/lr", "k": "agent/k", "reward": "agent/reward"}


class RecognizerScalars:
    """Writes one step's info (``FreqMixUpEnv.step``'s) as TensorBoard scalars into ``folder``.

    A resumed run writes a second event file into the same folder, from the step after its checkpoint on.
    """

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package; the caller checks

        self.writer = SummaryWriter(str(folder))

    def record(self, info: dict[str, Any]) -> None:
        """The scalars of one step."""
        step = int(info["step"])
        for key, tag in SCALARS.items():
            self.writer.add_scalar(tag, float(info[key]), step)
        if info.get("evaluated"):
            self.writer.add_scalar("recognizer/probe_accuracy", float(info["accuracy"]), step)
        if "cost" in info:
            self.writer.add_scalar("agent/cost", float(info["cost"]), step)

    def close(self) -> None:
        """Flush the event file to disk."""
        self.writer.close()
