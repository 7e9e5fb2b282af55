"""A Gymnasium wrapper that writes one CSV row per env step, whoever drives the env (a loop or SB3's learn)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

STEP_COLUMNS = ("step", "epoch", "k", "reward", "loss", "utility_penalty", "lr", "max_weight", "accuracy")


class StepLog(gym.Wrapper):
    """Appends ``STEP_COLUMNS`` of every step's info to ``path`` and keeps the rows in memory (``rows``)."""

    def __init__(self, env: gym.Env, path: Path) -> None:
        super().__init__(env)
        self.rows: list[dict[str, float]] = []
        self._file = open(path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=STEP_COLUMNS)
        self._writer.writeheader()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        row = {"step": info["step"], "epoch": info["epoch"], "k": info["k"], "reward": reward, "loss": info["loss"],
               "utility_penalty": info["utility_penalty"], "lr": info["lr"],
               "max_weight": float(np.max(info["weights"], axis=1).mean()), "accuracy": info["accuracy"]}
        self.rows.append(row)
        self._writer.writerow(row)
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self._file.close()
        super().close()
