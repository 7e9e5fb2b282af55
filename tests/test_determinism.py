"""Same seed -> the same run, on the CPU, for every registered agent: identical steps.csv (actions, rewards, losses,
learning rates) and identical metrics.json (timings aside). See docs/determinism.md."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from agents.build import agent_spec
from agents.registry import AGENTS
from freqmix.cli import main

# Tiny synthetic faces and a dozen steps; small enough rollouts and replay warm-ups that every learning agent
# updates its policy several times within the run, so that its learning is covered too.
RUN = ["--image-size", "16", "--steps", "12", "--no-progress"]
TIMINGS = ("wall_seconds", "images_per_second")



def _updates_early(name: str) -> list[str]:
    """``--hp`` overrides that make agent ``name`` learn within a few steps."""
    algorithm = agent_spec(name).algorithm
    if algorithm is None:
        return []
    takes = inspect.signature(algorithm.__init__).parameters
    overrides = {"n_steps": 4, "learning_starts": 4}
    if "batch_size" in takes:
        overrides["batch_size"] = 4
    return [arg for key, value in overrides.items() if key in takes for arg in ("--hp", f"{key}={value}")]


def _run(out: Path, agent: str, seed: int) -> tuple[str, dict]:
    assert main(["train", "--agent", agent, "--seed", str(seed), *_updates_early(agent), *RUN, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    return (out / "steps.csv").read_text(), {key: value for key, value in metrics.items() if key not in TIMINGS}


@pytest.mark.parametrize("agent", list(AGENTS))
def test_same_seed_same_run(agent, tmp_path):
    steps, metrics = _run(tmp_path / "first", agent, seed=3)
    again_steps, again_metrics = _run(tmp_path / "second", agent, seed=3)
    assert len(steps.splitlines()) == 1 + 12
    assert steps == again_steps
    assert metrics == again_metrics


def test_another_seed_another_run(tmp_path):
    assert _run(tmp_path / "a", "random", seed=3)[0] != _run(tmp_path / "b", "random", seed=4)[0]
