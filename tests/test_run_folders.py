"""Run folders never lose work: a non-empty --out is refused unless --overwrite (which replaces only freqmix's files),
every option is checked before anything is written, --resume keeps the checkpoint schedule and recognises a finished
run, Ctrl-C says how to resume, a resumed agent's progress.csv stays one file, and evaluations under different
budgets sit side by side."""
import csv
import json

import pytest

from attacks.budget import BUDGETS, AttackBudget
from freqmix.cli import main
from freqmix.evaluate import privacy_paths
from freqmix.experiment.checkpoint import CHECKPOINT_NAME, load_checkpoint
from mixup_env.env import FreqMixUpEnv

TINY = ["--image-size", "32", "--batch-size", "8", "--embedding-dim", "32", "--no-progress", "--seed", "3"]
TINY_BUDGET = AttackBudget("tiny", recognizer_epochs=1, evaluator_steps=4, cgan_steps=2, cgan_batch=8, cgan_width=8,
                           prior_steps=2, inversion_steps=2, inversions_per_identity=1, decoder_steps=2,
                           decoder_widths=(8, 16), decoder_batch=8)
if "tiny" not in BUDGETS:
    BUDGETS.register("tiny", TINY_BUDGET)


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("FREQMIX_DEBUG", raising=False)


def snapshot(folder):
    """Every file under ``folder``: relative path -> (bytes, mtime)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("freqmix: error: ") and "\n" not in err, err
    return err


def interrupt_at_step(monkeypatch, step):
    """Make the env raise KeyboardInterrupt (Ctrl-C) just before recognizer step ``step``."""
    real_step = FreqMixUpEnv.step

    def step_or_interrupt(self, action):
        if self.recognizer.step + 1 == step:
            raise KeyboardInterrupt
        return real_step(self, action)

    monkeypatch.setattr(FreqMixUpEnv, "step", step_or_interrupt)


def test_train_refuses_a_non_empty_out_and_leaves_it_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(out)]) == 0
    before = snapshot(out)
    assert main(["train", *TINY, "--steps", "3", "--out", str(out)]) == 2
    err = error_line(capsys)
    assert "is not empty" in err and "--overwrite" in err
    assert snapshot(out) == before


def test_overwrite_replaces_stale_run_files_and_keeps_the_rest(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--agent", "reinforce", "--hp", "n_steps=2", "--steps", "4", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    assert (out / "agent.zip").is_file() and (out / "agent_logs" / "progress.csv").is_file()
    assert main(["train", *TINY, "--defense", "hybrid1-flip", "--steps", "2", "--out", str(out), "--overwrite"]) == 0
    assert not (out / "agent.zip").exists() and not (out / "agent_logs").exists()  # nothing left from the old run
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2


@pytest.mark.parametrize("option, value, fragment", [
    ("--head", "arcfase", "unknown head"),
    ("--backbone", "resnet9000", "unknown backbone"),
    ("--device", "cuda:7", "device 'cuda:7'"),
    ("--agent", "genius", "unknown agent"),
    ("--env", "FreqMixDown-v0", "unknown env"),
    ("--data", "no/such/folder", "does not exist"),
    ("--hp", "n_stepz=4", "unknown hyperparameter"),
])
def test_bad_options_fail_before_anything_is_written(tmp_path, capsys, option, value, fragment):
    out = tmp_path / "never"
    agent = ["--agent", "ppo"] if option == "--hp" else []
    assert main(["train", *TINY, "--steps", "2", *agent, option, value, "--out", str(out)]) == 2
    assert fragment in error_line(capsys)
    assert not out.exists()


def test_resume_keeps_the_checkpoint_schedule(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--agent", "random", "--steps", "8", "--save-every", "2", "--stop-at", "2",
                 "--out", str(out)]) == 0
    interrupt_at_step(monkeypatch, 7)  # a second crash, late in the resumed part
    assert main(["train", "--resume", str(out), "--no-progress"]) == 130
    assert load_checkpoint(out / CHECKPOINT_NAME)["steps_done"] == 6  # not 2: --save-every 2 still applied


@pytest.mark.parametrize("save_every", ["4", "2"])  # last checkpoint before the end / at the end
def test_resuming_a_finished_run_changes_nothing(tmp_path, capsys, save_every):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--agent", "random", "--steps", "6", "--save-every", save_every,
                 "--out", str(out)]) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert snapshot(out) == before


def test_ctrl_c_says_whether_a_checkpoint_exists_and_how_to_resume(tmp_path, monkeypatch, capsys):
    out, bare = tmp_path / "run", tmp_path / "bare"
    interrupt_at_step(monkeypatch, 5)
    assert main(["train", *TINY, "--agent", "random", "--steps", "8", "--save-every", "2", "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip() == (f"freqmix: interrupted; the checkpoint in {out} covers step 4; "
                                               f"resume with: freqmix train --resume {out}")
    assert main(["train", *TINY, "--agent", "random", "--steps", "8", "--out", str(bare)]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"freqmix: interrupted; no checkpoint in {bare}") and "--save-every" in err
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0  # the command it printed
    assert json.loads((out / "metrics.json").read_text())["steps"] == 8


def _progress(folder):
    with open(folder / "agent_logs" / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[0].keys() if rows else set(), [int(float(row["time/total_timesteps"])) for row in rows]


def test_resumed_agent_keeps_one_progress_csv(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    agent = ["--agent", "reinforce", "--hp", "n_steps=4", "--steps", "16"]
    assert main(["train", *TINY, *agent, "--out", str(straight)]) == 0
    assert main(["train", *TINY, *agent, "--stop-at", "8", "--out", str(split)]) == 0
    assert main(["train", "--resume", str(split), "--no-progress"]) == 0
    assert [p.name for p in (split / "agent_logs").iterdir() if p.is_dir()] == []  # no second log folder
    columns, steps = _progress(split)
    assert (columns, steps) == _progress(straight)
    assert steps == sorted(set(steps)) and len(steps) >= 3  # one row per update, no step twice


def test_ablate_and_compare_refuse_a_non_empty_out(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "runs.csv").write_text("an earlier ablation")
    assert main(["ablate", *TINY, "--steps", "2", "--agents", "fixed", "--seeds", "1", "--out", str(out)]) == 2
    assert "is not empty" in error_line(capsys)
    assert main(["compare", "--image-size", "32", "--steps", "2", "--defenses", "none", "--no-progress",
                 "--out", str(out)]) == 2
    assert "is not empty" in error_line(capsys)
    assert (out / "runs.csv").read_text() == "an earlier ablation" and len(list(out.iterdir())) == 1


@pytest.fixture(scope="module")
def private_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("private") / "run"
    assert main(["train", "--image-size", "32", "--private-fraction", "0.1", "--train-per-identity", "3",
                 "--steps", "3", "--batch-size", "6", "--embedding-dim", "16", "--channels", "high", "--key", "5",
                 "--k", "3", "--no-progress", "--out", str(out)]) == 0
    return out


def test_evaluate_keeps_each_budgets_results(private_run, capsys):
    assert [p.name for p in privacy_paths(private_run, "default")] == ["privacy.json", "privacy.png",
                                                                                     "privacy.npz"]
    tiny_json, tiny_png, tiny_npz = privacy_paths(private_run, TINY_BUDGET.name)
    assert (tiny_json.name, tiny_png.name, tiny_npz.name) == ("privacy_tiny.json", "privacy_tiny.png",
                                                              "privacy_tiny.npz")
    (private_run / "privacy.json").write_text('{"budget": "default", "from": "an earlier evaluation"}')
    assert main(["evaluate", "--run", str(private_run), "--budget", "tiny", "--no-progress"]) == 0
    assert json.loads(tiny_json.read_text())["budget"] == "tiny" and tiny_png.is_file() and tiny_npz.is_file()
    assert json.loads((private_run / "privacy.json").read_text())["from"] == "an earlier evaluation"
    before = snapshot(private_run)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(private_run), "--budget", "tiny", "--no-progress"]) == 2
    assert "--overwrite" in error_line(capsys)
    assert snapshot(private_run) == before


def test_resume_refuses_options_of_a_new_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "4", "--stop-at", "2", "--out", str(out)]) == 0
    before = snapshot(out)
    assert main(["train", "--resume", str(out), "--lr", "0.01", "--channels", "high"]) == 2
    assert "drop --channels, --lr" in error_line(capsys)
    assert snapshot(out) == before
