"""A Gymnasium wrapper that writes one CSV row per env step, whoever drives the env (a loop or SB3's learn)."""
from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from freqmix_base.errors import FreqmixError
from mixup_env.recipe import WEIGHT_SCHEMES, Recipe

# The recipe's other fields follow k (the weight scheme as its index in WEIGHT_SCHEMES), so that the attacker's view
# replays each batch's recipe (recipe_of).
STEP_COLUMNS = ("step", "epoch", "k", "scheme", "alpha", "sign_flip", "drop", "reward", "loss", "cost", "lambda",
                "leakage", "lr", "max_weight", "accuracy")
_INTEGER_COLUMNS = ("step", "epoch", "k", "scheme", "sign_flip")


class StepLog(gym.Wrapper):
    """Appends ``STEP_COLUMNS`` of every step's info to ``path`` and keeps the rows in memory (``rows``).

    :param keep_rows: when resuming, the number of rows of an existing ``path`` to keep (the steps a checkpoint
        covers; rows logged after it are dropped because those steps will be taken again); None starts afresh.
    """

    def __init__(self, env: gym.Env, path: Path, keep_rows: int | None = None) -> None:
        super().__init__(env)
        self.rows: list[dict[str, float]] = []
        if keep_rows is not None:
            self.rows = _read_rows(path, keep_rows)
        self._file = open(path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=STEP_COLUMNS)
        self._writer.writeheader()
        self._writer.writerows(self.rows)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        recipe = info["recipe"]
        row = {"step": info["step"], "epoch": info["epoch"], "k": info["k"],
               "scheme": WEIGHT_SCHEMES.index(recipe.weights), "alpha": recipe.alpha,
               "sign_flip": int(recipe.sign_flip), "drop": recipe.drop, "reward": reward, "loss": info["loss"],
               "cost": info["cost"], "lambda": info["lambda"], "leakage": info["leakage"], "lr": info["lr"],
               "max_weight": float(np.max(info["weights"], axis=1).mean()), "accuracy": info["accuracy"]}
        self.rows.append(row)
        self._writer.writerow(row)
        return obs, reward, terminated, truncated, info

    def flush(self) -> None:
        """Push the rows written so far to disk (called with every checkpoint)."""
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()


def _read_rows(path: Path, count: int) -> list[dict[str, float]]:
    # csv writes floats with repr(), so float() gives back the exact values the metrics are computed from.
    if not path.is_file():
        raise FreqmixError(f"cannot resume: {path} is missing")
    with open(path, newline="") as f:
        rows = [{key: int(value) if key in _INTEGER_COLUMNS else float(value) for key, value in row.items()}
                for row in csv.DictReader(f)]
    if len(rows) < count:
        raise FreqmixError(f"cannot resume: {path} has {len(rows)} rows but the checkpoint covers {count} steps")
    return rows[:count]


def recipe_of(row: dict[str, float], default: Recipe) -> Recipe:
    """The recipe a step-log row's batch was mixed with: its logged fields over ``default`` (the run's recipe, which
    holds the fields no action chooses)."""
    return replace(default, k=int(row["k"]), weights=WEIGHT_SCHEMES[int(row["scheme"])], alpha=float(row["alpha"]),
                   sign_flip=bool(int(row["sign_flip"])), drop=float(row["drop"]))
