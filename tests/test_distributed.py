"""Multi-process training under torch.distributed (gloo, CPU): one DDP step is the average of the shards' steps,
`freqmix train --nproc 2` takes the actions of `--nproc 1` and follows its loss curve, and resumes bit-exactly."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from freqmix.cli import main
from recognizer.distributed import join_process_group, spawn
from recognizer.trainer import Recognizer

# Two processes see BN statistics of their own half of the batch instead of the whole batch's (there is no
# SyncBatchNorm on the CPU), so their loss curve is close to, not equal to, the single-process one.
FINAL_LOSS_TOLERANCE = 0.05  # relative, on the mean loss of the last 10 steps
CHANNELS, CLASSES = 64, 5
REPO = str(Path(__file__).parents[1])


def _shards() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(8, CHANNELS, 4, 4, generator=gen)
    labels = torch.nn.functional.one_hot(torch.arange(8) % CLASSES, CLASSES).float()
    return x[:4], labels[:4], x[4:], labels[4:]


def _parameters(recognizer: Recognizer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in (recognizer.backbone, recognizer.head) for p in m.parameters()])


def _one_ddp_step(result_dir: str) -> None:
    group = join_process_group("cpu")
    torch.set_num_threads(1)
    recognizer = Recognizer(CHANNELS, CLASSES, embedding_dim=16, seed=0, data_parallel=True)
    x_a, y_a, x_b, y_b = _shards()
    loss = recognizer.train_step(torch.cat([x_a, x_b]), torch.cat([y_a, y_b]))
    torch.save({"loss": loss, "parameters": _parameters(recognizer), "shard": recognizer.shard},
               Path(result_dir) / f"rank{group.rank}.pt")


def test_one_ddp_step_is_the_average_of_the_shards_single_process_steps(tmp_path) -> None:
    spawn(_one_ddp_step, 2, (str(tmp_path),))
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    x_a, y_a, x_b, y_b = _shards()
    alone = []
    for x, y in ((x_a, y_a), (x_b, y_b)):
        recognizer = Recognizer(CHANNELS, CLASSES, embedding_dim=16, seed=0)
        alone.append((recognizer.train_step(x, y), _parameters(recognizer)))
    assert [r["shard"] for r in ranks] == [(0, 2), (1, 2)]
    # The first SGD step is linear in the gradient, so averaging gradients averages the updated parameters.
    for rank in ranks:
        assert torch.allclose(rank["parameters"], (alone[0][1] + alone[1][1]) / 2, atol=1e-6)
        assert rank["loss"] == pytest.approx((alone[0][0] + alone[1][0]) / 2, rel=1e-6)
    assert not torch.allclose(alone[0][1], alone[1][1], atol=1e-4)  # the shards really differ


def _steps(run: Path) -> list[dict[str, str]]:
    with open(run / "steps.csv", newline="") as f:
        return list(csv.DictReader(f))


TRAIN = ["train", "--steps", "24", "--batch-size", "32", "--image-size", "32", "--embedding-dim", "32",
         "--agent", "random", "--no-progress"]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "two"
    assert main([*TRAIN, "--nproc", "2", "--out", str(out)]) == 0
    return out


def test_two_processes_take_the_same_actions_and_follow_the_single_process_loss(tmp_path, two_process_run) -> None:
    assert main([*TRAIN, "--nproc", "1", "--out", str(tmp_path / "one")]) == 0
    one, two = _steps(tmp_path / "one"), _steps(two_process_run)
    assert [r["k"] for r in one] == [r["k"] for r in two] and len(two) == 24
    final_one = np.mean([float(r["loss"]) for r in one[-10:]])
    final_two = np.mean([float(r["loss"]) for r in two[-10:]])
    assert abs(final_two - final_one) <= FINAL_LOSS_TOLERANCE * final_one
    # Rank 0 alone wrote the run's files.
    assert {p.name for p in two_process_run.iterdir()} >= {"config.json", "steps.csv", "recognizer.pt",
                                                           "metrics.json"}


def test_torchrun_gives_the_same_run_with_one_summary(tmp_path, two_process_run) -> None:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "-m", "freqmix.cli", *TRAIN, "--out", str(tmp_path / "torchrun")]
    done = subprocess.run(torchrun, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stderr[-2000:]
    assert _steps(tmp_path / "torchrun") == _steps(two_process_run)
    assert done.stdout.count("identification accuracy") == 1


def test_two_process_run_resumes_bit_exactly(tmp_path, two_process_run) -> None:
    assert main([*TRAIN, "--nproc", "2", "--stop-at", "10", "--out", str(tmp_path / "split")]) == 0
    assert len(_steps(tmp_path / "split")) == 10
    assert main(["train", "--resume", str(tmp_path / "split"), "--no-progress"]) == 0
    assert _steps(tmp_path / "split") == _steps(two_process_run)


def test_a_global_batch_that_does_not_split_is_refused_before_any_process_starts(tmp_path, capsys) -> None:
    assert main([*TRAIN, "--nproc", "3", "--out", str(tmp_path / "run")]) == 2
    assert "--batch-size 32 is the global batch; it must split evenly over 3 processes" in capsys.readouterr().err
    assert main([*TRAIN, "--nproc", "0", "--out", str(tmp_path / "run")]) == 2
    assert "--nproc must be >= 1, not 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_user_error_inside_the_processes_is_one_line(tmp_path, capsys) -> None:
    assert main([*TRAIN, "--nproc", "2", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("freqmix: error: data path") and "missing' does not exist" in err[-1]
