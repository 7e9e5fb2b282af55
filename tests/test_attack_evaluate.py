"""``freqmix evaluate``: all attacks on one run on tiny synthetic faces, and one-line errors for bad runs."""
import json
import shutil

import pytest

from attacks.budget import BUDGETS, AttackBudget
from freqmix.cli import main
from freqmix.evaluate import evaluate_run
from freqmix.train import TrainConfig, run_training

TINY = AttackBudget("tiny", recognizer_epochs=1, evaluator_steps=4, cgan_steps=2, cgan_batch=8, cgan_width=8,
                    prior_steps=2, inversion_steps=2, inversions_per_identity=1)


def _config(**overrides):
    options = dict(data="synthetic", image_size=32, private_fraction=0.5, steps=3, batch_size=8, embedding_dim=16,
                   channels="no-dc", key=5, agent="fixed", k=3)
    return TrainConfig(**{**options, **overrides})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run_training(_config(), out, progress=False)
    return out


def test_evaluate_writes_privacy_json(run_dir):
    results = evaluate_run(run_dir, TINY, progress=False, reference_accuracy=0.5)
    saved = json.loads((run_dir / "privacy.json").read_text())
    assert saved["summary"] == results["summary"] and saved["summary"]["mia_prior"] in saved["inversion"]
    for key in ("psnr", "ssim", "recon_id_accuracy", "mia_top1", "mia_top5", "knn_distance"):
        assert isinstance(saved["summary"][key], float)
    assert set(saved["scores"]) >= {"S1", "S2", "S3", "S4", "score_pp", "score_cls"}
    assert set(saved["reconstruction"]) >= {"white_box", "black_box"}
    assert saved["protection"]["k_probs"] == {"3": 1.0} and saved["protection"]["keyed"]
    assert (run_dir / "privacy.png").is_file()


def test_evaluate_is_reproducible(run_dir):
    first = evaluate_run(run_dir, TINY, seed=1, progress=False)
    second = evaluate_run(run_dir, TINY, seed=1, progress=False)
    assert first["summary"] == second["summary"] and first["scores"] == second["scores"]


def test_cli_evaluate(run_dir, monkeypatch, capsys):
    monkeypatch.setitem(BUDGETS, "smoke", TINY)
    assert main(["evaluate", "--run", str(run_dir), "--budget", "smoke", "--no-progress", "--threads", "1"]) == 0
    assert "score_pp" in capsys.readouterr().out


def _error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("freqmix: error: ") and "\n" not in err
    return err


def test_missing_run_folder(tmp_path, capsys):
    assert "does not exist" in _error(["evaluate", "--run", str(tmp_path / "nope")], capsys)


def test_run_without_checkpoint(run_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "recognizer.pt").unlink()
    assert "no recognizer.pt" in _error(["evaluate", "--run", str(broken)], capsys)


def test_corrupt_checkpoint(run_dir, tmp_path, capsys):
    broken = tmp_path / "corrupt"
    shutil.copytree(run_dir, broken)
    (broken / "recognizer.pt").write_bytes(b"not a checkpoint")
    assert "checkpoint" in _error(["evaluate", "--run", str(broken)], capsys)


def test_checkpoint_that_does_not_match_the_config(run_dir, tmp_path, capsys):
    broken = tmp_path / "mismatch"
    shutil.copytree(run_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["channels"] = "high"  # 36 channels, the checkpoint takes 63
    (broken / "config.json").write_text(json.dumps(config))
    assert "does not match" in _error(["evaluate", "--run", str(broken), "--budget", "smoke"], capsys)


def test_run_without_private_identities(run_dir, tmp_path, capsys):
    broken = tmp_path / "everyone"
    shutil.copytree(run_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["private_fraction"] = None
    (broken / "config.json").write_text(json.dumps(config))
    assert "--private-fraction" in _error(["evaluate", "--run", str(broken)], capsys)
