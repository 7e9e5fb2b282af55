"""``freqmix bench``: the speed figures of docs/benchmarks.md, each a ratio timed side by side in one process.

Writes ``OUT/bench.json`` (every figure with its spread, goal, and what both sides do; the settings and the
machine) and ``OUT/train_run/`` (the ``freqmix train`` run behind the throughput and memory figures), and prints
a table. Its options: :mod:`freqmix.bench_command`.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from freqmix.benchmarks import dct_vs_copy, dct_vs_cv2, env_step, reward_costs, train_run
from freqmix.benchmarks.timing import DEFAULT_ROUNDS
from freqmix.experiment.run_folder import claim_output_folder
from freqmix_base.errors import FreqmixError
from recognizer.data import synthetic_faces
from recognizer.splits import split_per_identity

BENCH_FILES = ("bench.json", "train_run")


def run_bench(out: Path, rounds: int = DEFAULT_ROUNDS, batch_size: int = 32, image_size: int = 112,
              threads: int = 1, train_steps: int | None = None, train: bool = True, overwrite: bool = False
              ) -> dict[str, Any]:
    """Measure every figure and write ``out/bench.json``; returns its content.

    :param rounds: interleaved rounds per figure (medians and quartiles are over rounds).
    :param batch_size: images per batch (the default ``freqmix train`` uses 32).
    :param image_size: side of the synthetic faces in pixels (a multiple of 8; the default data uses 112).
    :param threads: torch intra-op threads here and in the ``freqmix train`` child; 0 keeps torch's default.
    :param train_steps: recognizer steps of the ``freqmix train`` run; None keeps its default budget.
    :param train: whether to run ``freqmix train`` at all.
    :param overwrite: replace an earlier bench's files in ``out`` (else a non-empty ``out`` is refused).
    """
    if rounds < 1 or batch_size < env_step.K or threads < 0:
        raise FreqmixError(f"need --rounds >= 1, --batch-size >= {env_step.K} and --threads >= 0; got {rounds}, "
                           f"{batch_size}, {threads}")
    if train_steps is not None and train_steps < 1:
        raise FreqmixError(f"--train-steps must be >= 1, not {train_steps}")
    claim_output_folder(out, overwrite, BENCH_FILES)
    out.mkdir(parents=True, exist_ok=True)
    # The default run's data: synthetic gray faces, split per identity with seed 0; batches come from its train part.
    faces, _ = split_per_identity(synthetic_faces(image_size=image_size, seed=0), seed=0)
    batch = faces.images[:batch_size]
    previous_threads = torch.get_num_threads()
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        if threads:
            torch.set_num_threads(threads)
        step, episodes = env_step.measure(faces, batch_size, rounds)
        leakage, decoder_leakage, probe = reward_costs.measure(faces, batch_size, rounds)
        figures = {"env_step_over_plain": step.to_dict(), "env_episodes_over_plain": episodes.to_dict(),
                   "leakage_over_step": leakage.to_dict(), "decoder_leakage_over_step": decoder_leakage.to_dict(),
                   "probe_over_step": probe.to_dict(),
                   "dct_speedup_vs_cv2": dct_vs_cv2.measure(batch, rounds).to_dict(),
                   "dct_over_copy": dct_vs_copy.measure(batch, rounds).to_dict()}
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous_threads)
    result: dict[str, Any] = {
        "figures": figures,
        "train": (train_run.measure(out / "train_run", train_steps, threads or None).to_dict() if train else None),
        "settings": {"rounds": rounds, "batch_size": batch_size, "image_size": image_size,
                     "torch_threads": used_threads, "train_steps": train_steps,
                     "data": f"synthetic faces, training split: {len(faces)} gray {image_size}x{image_size} images "
                             f"of {faces.num_identities} identities"},
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
        "seconds": time.perf_counter() - started,
    }
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    return result


def format_table(result: dict[str, Any]) -> str:
    """The figures of a :func:`run_bench` result as a fixed-width text table (value and quartiles from CPU time,
    then the median ratio of wall-clock times)."""
    lines = [f"{'figure':<24} {'value':>8}  {'q25..q75':>15}  {'wall':>7}  {'goal':>8}  met"]
    for name, fig in result["figures"].items():
        met = {True: "yes", False: "NO", None: "-"}[fig["met"]]
        lines.append(f"{name:<24} {fig['value']:>8.3f}  {fig['q25']:>7.3f}..{fig['q75']:<7.3f}  "
                     f"{fig['wall_value']:>7.3f}  {fig['goal'] or '-':>8}  {met}")
    run = result["train"]
    if run is not None:
        lines.append(f"freqmix train: {run['images_per_second']:.1f} images/s over {run['steps']} steps, "
                     f"peak RSS {run['peak_rss_mib']:.0f} MiB ({run['goal']}: {'yes' if run['met'] else 'NO'})")
    return "\n".join(lines)
