"""Everyday comforts: quiet progress bars in logs, a ``freqmix --help`` that imports no torch, defaults in help,
``--threads`` everywhere, the recognizer's TensorBoard scalars for every agent, ``--config`` reruns, ``load_run``."""
import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from freqmix.cli import COMMANDS, build_parser, command_parser, main
from freqmix_base.errors import FreqmixError

TINY = ["--image-size", "32", "--batch-size", "8", "--embedding-dim", "32", "--seed", "3"]
REPO = Path(__file__).resolve().parents[1]


def _steps(folder):
    with open(folder / "steps.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_help_imports_neither_torch_nor_a_subcommand():
    script = ("import sys\nfrom freqmix.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'stable_baselines3', 'agents')"
              " or m in ('freqmix.experiment.launch', 'freqmix.compare', 'freqmix.evaluate')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "train a recognizer" in done.stdout


def test_a_mistyped_option_fails_before_torch_loads():
    # In a fresh process, as a user's shell starts it (no OMP_NUM_THREADS): the parser's user errors come before
    # torch is imported, so they take no more than the interpreter's start.
    script = ("import sys\nfrom freqmix.cli import main\n"
              "for argv in (['train', '--steps', 'abc'], ['train', '--reward', 'bogus'], ['train', '--input-norm', "
              "'x'], ['train', '--episode', 'forever'], ['ablate', '--seeds', 'two'], ['compare', '--channels', 'high'], "
              "['frontier', '--budget'], ['evaluate', '--seed', 'x'], ['bench', '--rounds', 'x'], ['align']):\n"
              "    try:\n        print(main(argv))\n    except SystemExit as exc:\n        print(exc.code)\n"
              "print('torch' in sys.modules, 'stable_baselines3' in sys.modules)")
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**env, "PYTHONPATH": str(REPO)})
    assert done.stdout.split() == ["2"] * 10 + ["False", "False"], done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 10 and all(line.startswith("freqmix: error: ") for line in errors)
    assert "invalid int value: 'abc'" in errors[0] and "'bogus' (choose from 'loss', 'constrained')" in errors[1]


def _imports(path):
    tree = ast.parse(path.read_text())
    return ({alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module})


def test_no_subcommand_imports_the_cli():
    # The subcommands take their shared options from freqmix.options; the cli imports them only to run one.
    assert [p.name for p in (REPO / "freqmix").rglob("*.py") if "freqmix.cli" in _imports(p)] == []
    assert ({"freqmix.compare", "freqmix.experiment.launch", "freqmix.train_command"}
            .isdisjoint(_imports(REPO / "freqmix/cli.py")))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_listed_with_its_own_help_and_threads_and_defaults(name):
    # The listing that --help builds without importing the command equals the one the command's module gives.
    assert build_parser(name).format_help() == build_parser(None).format_help()
    text = command_parser(name).format_help()
    assert "--threads" in text and "(default: " in text


def test_help_shows_defaults():
    text = " ".join(command_parser("train").format_help().split())
    assert "(default: 0.1)" in text and "(default: synthetic)" in text and "(default: runs/train)" in text
    assert "(default: 0.0)" in text  # --drop: a zero is a default worth showing
    assert "(default: None)" not in text and "(default: none) (default:" not in text  # said once, in words


@pytest.mark.parametrize("name, own", [("compare", ["--defenses", "--budget", "--seeds", "--gather"]),
                                       ("ablate", ["--agents", "--seeds"]), ("frontier", ["--budget", "--seeds"]),
                                       ("train", ["--agent", "--config", "--resume", "--out"])])
def test_a_commands_own_options_come_before_the_training_options(name, own):
    text = command_parser(name).format_help()
    training = text.index("training options (shared by train, ablate, compare and frontier):")
    assert all(0 < text.index(f"  {option} ") < training for option in own)
    assert text.index("  --data ") > training and len(text[:text.index("usage:") + 200].splitlines()[0]) < 80


def test_help_wraps_between_words_and_says_every_default():
    text = command_parser("compare").format_help()
    words = set(text.replace(",", " ").replace("(", " ").replace(")", " ").split())
    assert {"instahide", "reinforce-constrained", "fixed4-nodc"} <= words  # no name cut at a line's end
    flat = " ".join(text.split())
    # A help that names the budget "default" among the choices still says which one is the default.
    budget = flat[flat.index("--budget BUDGET"):]
    assert budget[:budget.index(")") + 1].endswith("(default: default)") and "(default: all of them)" in flat
    assert "(default: [])" not in flat


@pytest.mark.parametrize("argv, expected", [
    (["train", "--stpes", "40"], "unrecognized option --stpes (did you mean --steps?); see freqmix train --help"),
    (["compare", "--defences", "none"], "(did you mean --defenses?); see freqmix compare --help"),
    (["evaluate", "--run", "x", "--budgett", "smoke"], "(did you mean --budget?); see freqmix evaluate --help"),
    (["train", "stray"], "unrecognized argument: stray; see freqmix train --help"),
])
def test_a_typo_gets_the_closest_option_and_the_commands_own_help(argv, expected, capsys):
    with pytest.raises(SystemExit) as usage:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert usage.value.code == 2 and err.startswith("freqmix: error: ") and err.endswith(expected), err


def test_train_says_whether_its_run_can_be_attacked(tmp_path, capsys):
    assert main(["train", *TINY, "--steps", "1", "--no-progress", "--out", str(tmp_path / "everyone")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("to measure privacy, train with --private-fraction")
    out = tmp_path / "private"
    assert main(["train", *TINY, "--steps", "1", "--no-progress", "--private-fraction", "0.5", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"attack it: freqmix evaluate --run {out} ")


def test_threads_is_applied(tmp_path):
    before = torch.get_num_threads()
    try:
        assert main(["train", *TINY, "--steps", "1", "--no-progress", "--threads", "2",
                     "--out", str(tmp_path / "run")]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("agent", [["--agent", "fixed", "--k", "3"], ["--agent", "random"],
                                   ["--agent", "reinforce", "--hp", "n_steps=4"]])
def test_tensorboard_has_the_recognizers_scalars_for_every_agent(tmp_path, agent):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(["train", *TINY, *agent, "--steps", "8", "--probe-every", "4", "--no-progress",
                 "--out", str(out)]) == 0
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"recognizer/loss", "recognizer/lr", "recognizer/probe_accuracy", "agent/k",
            "agent/reward"} <= set(events.Tags()["scalars"])
    rows = _steps(out)
    for tag, column in (("recognizer/loss", "loss"), ("agent/k", "k"), ("agent/reward", "reward")):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == list(range(1, 9))
        np.testing.assert_allclose([s.value for s in scalars], [float(r[column]) for r in rows], rtol=1e-6)
    probe = events.Scalars("recognizer/probe_accuracy")
    assert [s.step for s in probe] == [4, 8]
    np.testing.assert_allclose([s.value for s in probe], [float(rows[3]["accuracy"]), float(rows[7]["accuracy"])])


def test_tensorboard_records_the_cost_when_the_env_reports_one(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from freqmix.experiment.scalars import RecognizerScalars

    scalars = RecognizerScalars(tmp_path)
    info = {"step": 1, "loss": 2.0, "lr": 0.1, "k": 3, "reward": 2.0, "evaluated": False, "accuracy": 0.0}
    scalars.record(info)
    scalars.record({**info, "step": 2, "cost": 0.25})
    scalars.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(s.step, s.value) for s in events.Scalars("agent/cost")] == [(2, 0.25)]
    assert "recognizer/probe_accuracy" not in events.Tags()["scalars"]


def test_config_reruns_a_saved_run_and_flags_override_it(tmp_path):
    first, again, changed = tmp_path / "first", tmp_path / "again", tmp_path / "changed"
    assert main(["train", *TINY, "--channels", "no-dc", "--k", "3", "--steps", "4", "--seed", "5", "--no-progress",
                 "--out", str(first)]) == 0
    saved = first / "config.json"
    assert main(["train", "--config", str(saved), "--no-progress", "--out", str(again)]) == 0
    assert json.loads((again / "config.json").read_text()) == json.loads(saved.read_text())
    assert (again / "steps.csv").read_text() == (first / "steps.csv").read_text()
    assert main(["train", "--config", str(saved), "--k", "4", "--epochs", "1", "--no-progress",
                 "--out", str(changed)]) == 0
    config = json.loads((changed / "config.json").read_text())
    assert (config["agent"]["hyperparams"]["k"], config["training"]["steps"], config["training"]["epochs"]) == (4, None, 1)
    assert (config["transform"]["channels"], config["seed"]) == ("no-dc", 5)


def test_config_that_is_not_a_train_config_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FREQMIX_DEBUG", raising=False)
    other = tmp_path / "compare.json"
    other.write_text('{"defenses": ["none"]}')
    assert main(["train", "--config", str(other), "--out", str(tmp_path / "run")]) == 2
    assert "not the config.json of a freqmix train run" in capsys.readouterr().err


def test_load_run_embeds_as_the_runs_own_evaluation_did(tmp_path):
    from freqmix import TrainedRun, load_run
    from freqmix.experiment.task import load_task
    from recognizer.accuracy import identification_accuracy

    out = tmp_path / "run"
    assert main(["train", "--image-size", "32", "--batch-size", "8", "--embedding-dim", "16", "--channels", "high",
                 "--key", "3", "--steps", "30", "--no-progress", "--out", str(out)]) == 0
    run = load_run(out)
    assert isinstance(run, TrainedRun) and run.transform.key == 3
    task = load_task(run.config)
    gallery, probe = run.embed(task.train.images), run.embed(task.test.images)
    assert probe.shape == (len(task.test), 16) and torch.allclose(probe.norm(dim=1), torch.ones(len(task.test)))
    accuracy = identification_accuracy(gallery, task.train.labels, probe, task.test.labels)
    assert accuracy == json.loads((out / "metrics.json").read_text())["identification_accuracy"]
    with pytest.raises(FreqmixError, match="do not fit this run"):
        run.embed(task.test.images[:, :, :16, :16])
