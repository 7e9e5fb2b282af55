"""Throughput and peak memory of the default ``freqmix train``, run as a child process so that its peak resident
set size is its own (``os.wait4`` returns the rusage of exactly that child)."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

GOAL_PEAK_RSS_GIB = 2.0


@dataclass
class TrainRun:
    """What one ``freqmix train`` run cost.

    :param images_per_second: the run's own figure (metrics.json): mixed images trained on ÷ wall seconds of the
        whole run (data loading, training, evaluation).
    :param steps: recognizer steps it ran.
    :param wall_seconds: the child process from start to exit (interpreter start and imports included).
    :param peak_rss_mib: peak resident set size of the child, MiB.
    :param goal: the peak RSS goal; ``met`` whether it holds.
    :param command: the command line that was run (with its thread settings).
    """

    images_per_second: float
    steps: int
    wall_seconds: float
    peak_rss_mib: float
    goal: str
    met: bool
    command: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def _max_rss_mib(max_rss: int) -> float:
    # getrusage reports kilobytes on Linux and bytes on macOS.
    return max_rss / 2**20 if sys.platform == "darwin" else max_rss / 2**10


def measure(out: Path, steps: int | None = None, threads: int | None = None) -> TrainRun:
    """Run ``freqmix train --out OUT --overwrite --no-progress [--steps STEPS]`` (default data, agent and budget otherwise).

    :param out: the run's output folder (its console output goes to ``OUT/console.txt``).
    :param steps: recognizer steps; None keeps the default budget (40 epochs of the training split).
    :param threads: intra-op threads of the child (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``); None inherits.
    """
    # --overwrite: OUT already holds console.txt (and an earlier bench's run, which this one replaces).
    args = ["train", "--out", str(out), "--overwrite", "--no-progress"] + (
        ["--steps", str(steps)] if steps is not None else [])
    env = dict(os.environ)
    prefix = ""
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        prefix = f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "console.txt", "w") as console:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "freqmix.cli", *args], stdout=console,
                                 stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen so it does not wait again
    if child.returncode != 0:
        tail = (out / "console.txt").read_text().strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"freqmix {' '.join(args)} exited with {child.returncode}: {tail[0]}")
    metrics = json.loads((out / "metrics.json").read_text())
    peak = _max_rss_mib(usage.ru_maxrss)
    return TrainRun(images_per_second=float(metrics["images_per_second"]), steps=int(metrics["steps"]),
                    wall_seconds=wall, peak_rss_mib=peak, goal=f"peak RSS <= {GOAL_PEAK_RSS_GIB:g} GiB",
                    met=peak <= GOAL_PEAK_RSS_GIB * 1024, command=prefix + "freqmix " + shlex.join(args))
