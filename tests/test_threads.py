"""The thread count: ``auto`` takes the cores nobody else is using, a run records the count it used, and a rerun of
its config under that count reproduces it bit for bit (docs/determinism.md)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import freqmix_base.threads as threads
from freqmix.cli import main
from freqmix.options import set_threads
from freqmix_base.threads import auto_threads

RUN = ["--image-size", "16", "--steps", "6", "--batch-size", "8", "--embedding-dim", "16", "--seed", "4",
       "--no-progress"]


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores, load, most, expected", [
    (2, 0.08, 2, 2),   # an idle 2-core machine: torch's one thread per core
    (2, 1.07, 2, 1),   # another job on one core
    (2, 4.0, 2, 1),    # more jobs than cores: never fewer than one thread
    (16, 3.4, 16, 13),
    (16, 0.0, 4, 4),   # OMP_NUM_THREADS=4 caps it
])
def test_auto_takes_the_cores_the_load_leaves(cores, load, most, expected):
    assert auto_threads(cores, load, most) == expected


def test_busy_cores_read_from_proc_stat():
    # cpu  user nice system idle iowait irq softirq: 400 busy jiffies of 1000, then 150 of 200 more
    before = threads.cpu_times("cpu  300 0 100 500 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    after = threads.cpu_times("cpu  420 0 130 540 110 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert before == (400, 1000) and after == (550, 1200)
    assert threads.busy_cores(before, after, cores=2) == pytest.approx(1.5)
    assert threads.busy_cores(before, before, cores=2) == 0.0


def test_auto_reads_this_machine(monkeypatch, restore_threads):
    torch.set_num_threads(3)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "recent_load", lambda: 1.8)
    set_threads("auto")
    assert torch.get_num_threads() == 2
    set_threads(0)  # leaves torch's count alone
    assert torch.get_num_threads() == 2
    set_threads(1)
    assert torch.get_num_threads() == 1


def _read(out):
    return ((out / "steps.csv").read_text(), json.loads((out / "config.json").read_text())["torch_threads"],
            json.loads((out / "metrics.json").read_text())["torch_threads"])


def test_the_run_records_its_threads_and_its_rerun_reproduces_it(tmp_path, restore_threads):
    assert main(["train", *RUN, "--threads", "2", "--out", str(tmp_path / "first")]) == 0
    steps, in_config, in_metrics = _read(tmp_path / "first")
    assert in_config == in_metrics == 2
    torch.set_num_threads(1)  # the rerun starts elsewhere, and takes the recorded count from the config
    assert main(["train", "--config", str(tmp_path / "first" / "config.json"), "--no-progress",
                 "--out", str(tmp_path / "rerun")]) == 0
    assert _read(tmp_path / "rerun") == (steps, 2, 2)
    assert main(["train", *RUN, "--threads", "2", "--out", str(tmp_path / "again")]) == 0
    assert _read(tmp_path / "again") == (steps, 2, 2)


def test_a_given_thread_count_wins_over_the_recorded_one(tmp_path, restore_threads):
    assert main(["train", *RUN, "--threads", "2", "--out", str(tmp_path / "first")]) == 0
    assert main(["train", "--config", str(tmp_path / "first" / "config.json"), "--no-progress", "--threads", "1",
                 "--out", str(tmp_path / "one")]) == 0
    assert _read(tmp_path / "one")[1:] == (1, 1)


def test_a_resumed_run_keeps_its_threads(tmp_path, restore_threads):
    assert main(["train", *RUN, "--threads", "2", "--out", str(tmp_path / "straight")]) == 0
    assert main(["train", *RUN, "--threads", "2", "--stop-at", "3", "--out", str(tmp_path / "split")]) == 0
    torch.set_num_threads(1)
    assert main(["train", "--resume", str(tmp_path / "split"), "--no-progress"]) == 0
    assert _read(tmp_path / "split") == _read(tmp_path / "straight")


def test_a_fresh_process_applies_the_count_before_torch_loads(tmp_path):
    # As a shell starts the command: torch not yet imported, so the count reaches it through OMP_NUM_THREADS.
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-m", "freqmix.cli", "train", *RUN, "--threads", "2", "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert _read(tmp_path / "run")[1:] == (2, 2)


def test_a_bad_thread_count_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", "--threads", "many"])
    assert exit.value.code == 2
    assert "give auto or a number of threads" in capsys.readouterr().err
