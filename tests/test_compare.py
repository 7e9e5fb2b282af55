"""``freqmix compare`` on tiny synthetic faces under two seeds: the table agrees with each run's privacy.json, every
figure has an interval that holds its mean, and one-line errors."""
import csv
import json
import shutil

import numpy as np
import pytest
import torch

from attacks.budget import BUDGETS, AttackBudget
from freqmix.cli import main
from freqmix.compare import COLUMNS, NUMERIC, table_columns
from freqmix.face_pictures import gallery_row, load_faces

TINY = AttackBudget("tiny", recognizer_epochs=1, evaluator_steps=4, cgan_steps=2, cgan_batch=8, cgan_width=8,
                    prior_steps=2, inversion_steps=2, inversions_per_identity=1, decoder_steps=2,
                    decoder_widths=(8, 16), decoder_batch=8)
if "tiny" not in BUDGETS:
    BUDGETS.register("tiny", TINY)


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    # 2 private identities with 3 training faces each keep the pretrained judge's work small.
    argv = ["compare", "--data", "synthetic", "--image-size", "32", "--defenses", "fixed2,none", "--budget", "tiny",
            "--seeds", "2", "--steps", "3", "--batch-size", "6", "--embedding-dim", "16", "--seed", "1",
            "--private-fraction", "0.1", "--train-per-identity", "3", "--out", str(out), "--no-progress",
            "--threads", "1"]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def rows(compare_dir):
    with open(compare_dir / "compare.csv") as f:
        return {row["defense"]: row for row in csv.DictReader(f)}


def test_compare_writes_every_file(compare_dir):
    for name in ("compare.csv", "compare.md", "compare.json", "compare.png", "compare_gallery.png", "config.json"):
        assert (compare_dir / name).is_file(), name
    for defense in ("none", "fixed2"):
        for seed in (1, 2):
            assert (compare_dir / defense / f"seed{seed}" / "privacy_tiny.json").is_file()


def test_table_columns_keep_the_old_ones_and_add_intervals(compare_dir, rows):
    with open(compare_dir / "compare.csv") as f:
        header = next(csv.reader(f))
    assert header[:len(COLUMNS)] == list(COLUMNS) and tuple(header) == table_columns()
    assert list(rows) == ["fixed2", "none"]  # the order asked for
    assert {"ssim_ci_low", "ssim_ci_high", "exposure_ssim_E20", "ssim_attack", "judge_heldout_accuracy"} <= set(header)


def test_table_is_the_mean_over_seeds_of_each_run(compare_dir, rows):
    for defense, row in rows.items():
        runs = [json.loads((compare_dir / defense / f"seed{s}" / "privacy_tiny.json").read_text()) for s in (1, 2)]
        for figure in ("ssim", "psnr", "recon_id_accuracy", "mia_top5", "knn_distance"):
            assert float(row[figure]) == pytest.approx(np.mean([r["summary"][figure] for r in runs])), figure
        assert float(row["exposure_ssim_E5"]) == pytest.approx(np.mean([r["exposure"]["5"]["ssim"] for r in runs]))


def test_every_interval_holds_its_mean(rows):
    for defense, row in rows.items():
        for figure in NUMERIC:
            if row[figure] == "":
                continue
            low, value, high = float(row[f"{figure}_ci_low"]), float(row[figure]), float(row[f"{figure}_ci_high"])
            assert low - 1e-9 <= value <= high + 1e-9, (defense, figure)


def test_no_defense_is_inverted_exactly_and_is_the_utility_reference(rows):
    none = rows["none"]
    assert float(none["ssim"]) == pytest.approx(1.0, abs=1e-6) and none["ssim_attack"] == "analytic_white_box"
    assert float(none["ssim_ci_low"]) == pytest.approx(1.0, abs=1e-6)
    assert float(none["score_cls"]) == pytest.approx(1.0)
    assert float(rows["fixed2"]["mean_k"]) == 2.0 and float(rows["fixed2"]["ssim"]) < 1.0


def test_markdown_shows_intervals(compare_dir):
    table = (compare_dir / "compare.md").read_text()
    assert "| defense | identification_accuracy" in table and "| none | " in table
    assert "seeds 1, 2" in table and "1.000 [1.000, 1.000]" in table


def test_resolved_config_is_saved(compare_dir):
    config = json.loads((compare_dir / "config.json").read_text())
    assert config["defenses"] == ["fixed2", "none"] and config["seeds"] == [1, 2]
    assert config["budget"]["name"] == "tiny" and config["base"]["task"]["private_fraction"] == 0.1
    assert config["defense_overrides"]["fixed2"]["transform"]["channels"] == "high"
    assert json.loads((compare_dir / "none" / "seed2" / "config.json").read_text())["seed"] == 2


def test_the_gallery_shows_each_defense_by_its_strongest_pictured_attack(compare_dir):
    rows = {}
    for defense in ("fixed2", "none"):
        run = compare_dir / defense / "seed1"  # the gallery's seed: the first
        samples, verdicts = load_faces(run / "privacy_tiny.npz")
        results = json.loads((run / "privacy_tiny.json").read_text())
        rows[defense] = gallery_row(defense, results, samples, verdicts)
        recon = results["reconstruction"]
        best = max(recon[name]["ssim_best"] for name in samples if name in recon)
        assert rows[defense].label.startswith(f"{defense}: ") and rows[defense].label.endswith(f"SSIM {best:.3f}")
        assert len(rows[defense].faces) == len(samples["target"]) == len(rows[defense].verdicts)
    # Nothing protects `none`: the free analytic inverse is exact, so its row shows the private faces themselves.
    assert rows["none"].label == "none: white-box analytic inverse, SSIM 1.000"
    assert torch.equal(rows["none"].faces, samples["target"])


def test_compare_prints_directions_chance_and_its_files(compare_dir, tmp_path, capsys):
    assert main(["compare", "--gather", str(compare_dir), "--out", str(tmp_path / "printed")]) == 0
    out = capsys.readouterr().out
    assert "SSIM ↑" in out and "chance" in out and "compare_gallery.png" in out and "compare.md" in out


def test_unknown_defense_is_one_line(tmp_path, capsys):
    assert main(["compare", "--defenses", "none,fixde2", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("freqmix: error: unknown defense 'fixde2' (--defenses); choose one of: none, ppfr")
    assert "did you mean 'fixed2'" in err and "\n" not in err
    assert not (tmp_path / "c").exists()


def test_bad_seed_count_is_one_line(tmp_path, capsys):
    assert main(["compare", "--defenses", "none", "--seeds", "0", "--out", str(tmp_path / "c")]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_an_existing_comparison_is_refused_without_resume_or_overwrite(compare_dir, capsys):
    before = (compare_dir / "compare.csv").read_bytes()
    assert main(["compare", "--defenses", "none", "--out", str(compare_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "already holds a comparison; --resume continues it, --overwrite replaces it" in err
    assert (compare_dir / "compare.csv").read_bytes() == before


@pytest.mark.parametrize("older", [False, True])
def test_resume_reuses_every_finished_run_and_rebuilds_the_same_table(compare_dir, tmp_path, monkeypatch, older):
    import shutil

    import freqmix.compare as compare

    copy = tmp_path / "copy"
    shutil.copytree(compare_dir, copy)
    (copy / "compare.csv").unlink()
    for path in copy.rglob("compare_row.json") if older else []:  # rows saved when k was the agent's own field
        saved = json.loads(path.read_text())
        saved["config"]["k"] = saved["config"]["hyperparams"].pop("k")
        path.write_text(json.dumps(saved))

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(compare, "run_training", no_training)
    monkeypatch.setattr(compare, "prepare_kit", no_training)
    argv = ["compare", "--data", "synthetic", "--image-size", "32", "--defenses", "fixed2,none", "--budget", "tiny",
            "--seeds", "2", "--steps", "3", "--batch-size", "6", "--embedding-dim", "16", "--seed", "1",
            "--private-fraction", "0.1", "--train-per-identity", "3", "--out", str(copy), "--no-progress",
            "--threads", "1", "--resume"]
    assert main(argv) == 0
    with open(copy / "compare.csv") as f, open(compare_dir / "compare.csv") as g:
        resumed, original = list(csv.DictReader(f)), list(csv.DictReader(g))
    drop = {"wall_seconds", "wall_seconds_ci_low", "wall_seconds_ci_high"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed] == \
        [{k: v for k, v in r.items() if k not in drop} for r in original]


def test_resume_retrains_a_run_whose_configuration_changed(compare_dir, tmp_path, monkeypatch):
    import shutil

    import freqmix.compare as compare

    copy = tmp_path / "copy"
    shutil.copytree(compare_dir, copy)
    trained = []

    def record(config, folder, progress=True, overwrite=False):
        trained.append(folder)
        raise RuntimeError("stop")  # ends the comparison once the retraining decision is known

    monkeypatch.setattr(compare, "run_training", record)
    monkeypatch.setattr(compare, "prepare_kit", lambda *a, **k: type("Kit", (), {})())
    argv = ["compare", "--data", "synthetic", "--image-size", "32", "--defenses", "none", "--budget", "tiny",
            "--seeds", "2", "--steps", "4", "--batch-size", "6", "--embedding-dim", "16", "--seed", "1",
            "--private-fraction", "0.1", "--train-per-identity", "3", "--out", str(copy), "--no-progress",
            "--threads", "1", "--resume"]
    with pytest.raises(RuntimeError, match="stop"):
        main(argv)
    assert trained == [copy / "none" / "seed1"]


def test_hp_reaches_every_learning_defense_and_no_other(tmp_path):
    out = tmp_path / "c"
    argv = ["compare", "--data", "synthetic", "--image-size", "32", "--defenses", "fixed2,reinforce-constrained",
            "--budget", "tiny", "--steps", "3", "--batch-size", "6", "--embedding-dim", "16", "--private-fraction",
            "0.1", "--train-per-identity", "3", "--hp", "n_steps=2", "--hp", "baseline=value", "--out", str(out),
            "--no-progress", "--threads", "1"]
    assert main(argv) == 0
    learned = json.loads((out / "reinforce-constrained" / "config.json").read_text())["agent"]["hyperparams"]
    fixed = json.loads((out / "fixed2" / "config.json").read_text())["agent"]["hyperparams"]
    assert learned == {"n_steps": 2, "baseline": "value"} and fixed == {"k": 2}  # the fixed agent's own k only


def _csv_rows(folder):
    with open(folder / "compare.csv") as f:
        return {row["defense"]: row for row in csv.DictReader(f)}


def test_gather_rebuilds_the_table_from_the_finished_runs(compare_dir, rows, tmp_path):
    # The runs' rows aggregate to the very table the comparison wrote, number for number.
    assert main(["compare", "--gather", str(compare_dir), "--out", str(tmp_path / "gathered")]) == 0
    assert _csv_rows(tmp_path / "gathered") == rows
    assert (tmp_path / "gathered" / "compare_gallery.png").is_file()  # drawn from the runs' saved faces
    # Rows of older versions do not name their defense: their folder (OUT/<defense>/seed<S>/) does.
    older = tmp_path / "older"
    for path in compare_dir.rglob("compare_row.json"):
        saved = json.loads(path.read_text())
        saved.pop("defense")
        target = older / path.relative_to(compare_dir)
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(saved))
    assert main(["compare", "--gather", str(older), "--defenses", "fixed2", "--out", str(tmp_path / "g2")]) == 0
    assert _csv_rows(tmp_path / "g2") == {"fixed2": rows["fixed2"]}


def test_gather_reads_each_run_s_latest_evaluation(compare_dir, rows, tmp_path):
    # A run evaluated again after its comparison (freqmix evaluate --overwrite) is gathered as it now reads.
    again = tmp_path / "again"
    shutil.copytree(compare_dir, again)
    for path in again.glob("fixed2/seed*/privacy_tiny.json"):
        results = json.loads(path.read_text())
        results["summary"]["ssim"] = 0.9
        results["per_image"]["ssim"] = [0.9] * len(results["per_image"]["ssim"])
        path.write_text(json.dumps(results))
    assert main(["compare", "--gather", str(again), "--out", str(tmp_path / "gathered")]) == 0
    gathered = _csv_rows(tmp_path / "gathered")
    assert float(gathered["fixed2"]["ssim"]) == pytest.approx(0.9) and gathered["none"] == rows["none"]
    assert gathered["fixed2"]["identification_accuracy"] == rows["fixed2"]["identification_accuracy"]


def test_gather_takes_one_data_set_at_other_paths_and_refuses_other_content(compare_dir, rows, tmp_path, capsys):
    # Runs made on another machine name the same data set by another path: they gather; a digest tells content apart.
    moved = tmp_path / "moved"
    for path in compare_dir.rglob("compare_row.json"):
        saved = json.loads(path.read_text())
        if saved["defense"] == "fixed2":
            saved["config"]["data"] = "/node7/scratch/" + saved["config"]["data"]
        target = moved / path.relative_to(compare_dir)
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(saved))
    assert main(["compare", "--gather", str(moved), "--out", str(tmp_path / "gathered")]) == 0
    assert _csv_rows(tmp_path / "gathered") == rows
    for i, path in enumerate(sorted(moved.rglob("compare_row.json"))):
        path.write_text(json.dumps({**json.loads(path.read_text()), "data_digest": f"digest{i % 2}"}))
    assert main(["compare", "--gather", str(moved), "--out", str(tmp_path / "refused")]) == 2
    assert "hold different faces" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_gather_refuses_runs_of_different_comparisons(compare_dir, tmp_path, capsys):
    def error(*argv):
        assert main(["compare", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("freqmix: error: ") and "\n" not in err
        return err

    out = str(tmp_path / "out")
    assert "finished twice" in error("--gather", str(compare_dir), str(compare_dir), "--out", out)
    (tmp_path / "empty").mkdir()
    assert "no finished defense/seed run" in error("--gather", str(tmp_path / "empty"), "--out", out)
    assert "no finished run of fixed4" in error("--gather", str(compare_dir), "--defenses", "fixed4", "--out", out)
    assert "would ignore --resume" in error("--gather", str(compare_dir), "--resume", "--out", out)
    other = tmp_path / "other" / "fixed6"
    other.mkdir(parents=True)
    saved = json.loads(next(compare_dir.rglob("compare_row.json")).read_text())
    other.joinpath("compare_row.json").write_text(json.dumps({**saved, "defense": "fixed6",
                                                              "budget": {**saved["budget"], "name": "bigger"}}))
    assert "differ in budget (bigger vs tiny)" in error("--gather", str(compare_dir), str(tmp_path / "other"),
                                                        "--out", out)
    assert not (tmp_path / "out").exists()  # every refusal before anything is written
