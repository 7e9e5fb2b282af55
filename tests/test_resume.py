"""Resume: N steps straight == N/2 steps, stop, resume; checkpoints are atomic and checked on load."""
import json

import pytest
import torch

import freqmix.experiment.checkpoint as checkpoint_module
from freqmix.cli import main
from freqmix.experiment.checkpoint import CHECKPOINT_NAME, load_checkpoint
from freqmix.experiment.config import TrainConfig

TINY = ["--image-size", "32", "--batch-size", "8", "--embedding-dim", "32", "--no-progress", "--seed", "3"]
TIMING = {"wall_seconds", "images_per_second"}


def _metrics(folder):
    return {k: v for k, v in json.loads((folder / "metrics.json").read_text()).items() if k not in TIMING}


@pytest.mark.parametrize("agent", [["--agent", "random"], ["--agent", "fixed", "--k", "3"],
                                   ["--agent", "reinforce", "--hp", "n_steps=4"]])
def test_stop_and_resume_matches_uninterrupted(tmp_path, agent):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", *TINY, *agent, "--steps", "8", "--out", str(straight)]) == 0
    assert main(["train", *TINY, *agent, "--steps", "8", "--stop-at", "4", "--out", str(split)]) == 0
    assert not (split / "metrics.json").exists() and load_checkpoint(split / CHECKPOINT_NAME)["steps_done"] == 4
    assert main(["train", "--resume", str(split), "--no-progress"]) == 0
    assert _metrics(split) == _metrics(straight)
    assert (split / "steps.csv").read_text() == (straight / "steps.csv").read_text()


def test_a_run_checkpointed_with_the_flat_config_of_older_versions_resumes(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    agent = ["--agent", "random", "--input-norm", "none"]  # a flat file lacking input_norm means "none"
    assert main(["train", *TINY, *agent, "--steps", "6", "--out", str(straight)]) == 0
    assert main(["train", *TINY, *agent, "--steps", "6", "--stop-at", "3", "--out", str(split)]) == 0
    state = load_checkpoint(split / CHECKPOINT_NAME)
    flat = TrainConfig.from_json(state["config"]).flat()
    del flat["input_norm"], flat["pretrain_on"], flat["pretrain_epochs"]  # as a file saved before them
    checkpoint_module.save_checkpoint(split / CHECKPOINT_NAME, {**state, "config": json.dumps(flat)})
    assert main(["train", "--resume", str(split), "--no-progress"]) == 0
    assert _metrics(split) == _metrics(straight)
    assert (split / "steps.csv").read_text() == (straight / "steps.csv").read_text()


def test_periodic_checkpoints_and_extension(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--agent", "random", "--steps", "6", "--save-every", "2", "--out", str(out)]) == 0
    assert load_checkpoint(out / CHECKPOINT_NAME)["steps_done"] == 6
    assert main(["train", "--resume", str(out), "--steps", "9", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 9


def test_kill_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--agent", "random", "--steps", "4", "--stop-at", "2", "--out", str(out)]) == 0
    before = (out / CHECKPOINT_NAME).read_bytes()
    real_save = torch.save

    def dying_save(obj, f):
        real_save(obj, f)
        f.truncate(100)  # half-written file, then the process is "killed"
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        checkpoint_module.save_checkpoint(out / CHECKPOINT_NAME, {"steps_done": 3})
    assert (out / CHECKPOINT_NAME).read_bytes() == before
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0


def test_truncated_or_missing_checkpoint_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--agent", "random", "--steps", "4", "--stop-at", "2", "--out", str(out)]) == 0
    data = (out / CHECKPOINT_NAME).read_bytes()
    (out / CHECKPOINT_NAME).write_bytes(data[: len(data) // 2])
    assert main(["train", "--resume", str(out)]) == 2
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("freqmix: error:")]
    assert len(errors) == 2 and "unreadable" in errors[0] and "no such folder" in errors[1]


def test_off_policy_agents_refuse_checkpoints_clearly(tmp_path, capsys):
    code = main(["train", *TINY, "--agent", "dqn", "--steps", "4", "--save-every", "2", "--out", str(tmp_path)])
    assert code == 2 and "replay buffer" in capsys.readouterr().err


@pytest.mark.parametrize("agent", [["--agent", "random"], ["--agent", "reinforce", "--hp", "n_steps=4"]])
def test_checkpoints_of_the_earlier_layout_still_resume(tmp_path, agent):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", *TINY, *agent, "--steps", "8", "--out", str(straight)]) == 0
    assert main(["train", *TINY, *agent, "--steps", "8", "--stop-at", "4", "--out", str(split)]) == 0
    state = load_checkpoint(split / CHECKPOINT_NAME)
    # The layout main wrote: policy and optimizer state dicts apart, no chooser step count, no pending-batch flag.
    old = dict(state["agent"])
    old.pop("num_timesteps", None)
    if "parameters" in old:
        parameters = old.pop("parameters")
        old.update(policy=parameters["policy"], optimizer=parameters["policy.optimizer"],
                   last_obs=old.pop("_last_obs"), last_episode_starts=old.pop("_last_episode_starts"))
    state["agent"] = old
    del state["env"]["batch_pending"]
    torch.save(state, split / CHECKPOINT_NAME)
    assert main(["train", "--resume", str(split), "--no-progress"]) == 0
    assert _metrics(split) == _metrics(straight)
