"""``freqmix evaluate``: all attacks on one run on tiny synthetic faces, the strongest attack in the summary, intervals
that hold their mean, the exact inverse of an unprotected run, and one-line errors for bad runs."""
import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest
import torch

from attacks.budget import BUDGETS, AttackBudget
from attacks.privacy import INVERSION_FIGURES, OBSERVED_VIEW, RECONSTRUCTION_FIGURES, exposure_view
from attacks.protection import Protection
from attacks.registry import ATTACKS as ATTACKS_REGISTERED
from freqmix.cli import main
from freqmix.evaluate import evaluate_run, protection_record
from freqmix.face_pictures import load_faces
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.defenses import PARTIAL_DROP, defense_of
from freqmix.experiment.launch import run_training
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from mixup_env.transform_config import TransformConfig

TINY = AttackBudget("tiny", recognizer_epochs=1, evaluator_steps=4, cgan_steps=2, cgan_batch=8, cgan_width=8,
                    prior_steps=2, inversion_steps=2, inversions_per_identity=1, decoder_steps=2,
                    decoder_widths=(8, 16), decoder_batch=8)
if "tiny" not in BUDGETS:
    BUDGETS.register("tiny", TINY)
ATTACKS = {"analytic_white_box", "analytic_black_box", "cgan_white_box", "cgan_black_box", "decoder_white_box",
           "decoder_black_box", "unmix_white_box", "unmix_black_box", "unmix_pooled", "pool_white_box"}


def _config(**overrides):
    # 2 private identities with 3 training faces each: the pretrained judge costs ~0.1 s per face on a CPU.
    options = dict(data="synthetic", image_size=32, private_fraction=0.1, train_per_identity=3, steps=3,
                   batch_size=6, embedding_dim=16, channels="high", key=5, agent="fixed", hyperparams={"k": 3})
    return TrainConfig.of(**{**options, **overrides})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run_training(_config(), out, progress=False)
    return out


@pytest.fixture(scope="module")
def results(run_dir):
    return evaluate_run(run_dir, TINY, progress=False, reference_accuracy=0.5)


def test_evaluate_writes_privacy_json(run_dir, results):
    saved = json.loads((run_dir / "privacy_tiny.json").read_text())  # a budget other than default: named file
    assert saved["summary"] == results["summary"]
    assert set(saved["reconstruction"]) == ATTACKS | {"attacked_tensors"}
    assert saved["reconstruction"]["attacked_tensors"] == 6
    assert set(saved["scores"]) >= {"S1", "S2", "S3", "S4", "score_pp", "score_cls"}
    config = TrainConfig.from_json((run_dir / "config.json").read_text())
    assert saved["protection"]["k_probs"] == {"3": 1.0}
    assert TransformConfig(**saved["protection"]["transform"]) == config.transform  # whole, key included
    assert Recipe(**saved["protection"]["recipe"]) == config.recipe
    assert set(saved["exposure"]) == {"1", "5", "20", "best"}
    assert 0 <= saved["judge"]["heldout_accuracy"] <= 1 and saved["judge"]["name"] == "dlib-resnet"
    assert (run_dir / "privacy_tiny.png").is_file() and not (run_dir / "privacy.json").exists()
    # Where the time went: the kit's stages, every attack's, judging and exposure, within the whole.
    stages = saved["stage_seconds"]
    assert {"pretrained judge", "generator prior", "white-box decoder", "judging", "exposure"} <= set(stages)
    assert all(v >= 0 for v in stages.values()) and sum(stages.values()) <= saved["wall_seconds"]


def test_summary_is_the_strongest_attack_over_the_observed_and_the_linked_epochs_and_names_it(results):
    s = results["summary"]
    for attacks, figures in ((results["reconstruction"], RECONSTRUCTION_FIGURES),
                             (results["inversion"], INVERSION_FIGURES)):
        for figure, key in figures.items():
            values = {name: attacks[name][key] for name in attacks if isinstance(attacks[name], dict)}
            if figure in RECONSTRUCTION_FIGURES:
                # The run's linked epochs compete; the oracle pick of the best single exposure does not.
                linked = {exposure_view(e): v[figure] for e, v in results["exposure"].items() if e != "best"}
                best = max(max(values.values()), max(linked.values()))
                view = s[f"{figure}_view"]
                named = values[s[f"{figure}_attack"]] if view == OBSERVED_VIEW else linked[view]
                assert view == OBSERVED_VIEW or s[f"{figure}_attack"] == results["exposure_attack"], figure
            else:
                best = min(values.values()) if figure == "knn_distance" else max(values.values())
                named = values[s[f"{figure}_attack"]]
            assert s[figure] == best == named, figure
    assert s["mia_prior"] == s["mia_top5_attack"]
    scores = results["scores"]
    assert scores["S1"] == pytest.approx(max(0.0, 1 - s["ssim"]))


def test_intervals_hold_the_per_image_mean(results):
    for figure, (low, high) in results["intervals"].items():
        mean = float(np.mean(results["per_image"][figure]))
        assert low - 1e-9 <= mean <= high + 1e-9, figure
        if figure in results["summary"]:
            assert mean == pytest.approx(results["summary"][figure]), figure


@pytest.mark.parametrize("attack", ["cgan_white_box", "decoder_white_box", "decoder_black_box"])
def test_learning_curve_starts_at_step_zero(results, attack):
    curve = results["reconstruction"][attack]["learning_curve"]
    assert [p["step"] for p in curve] == [0, 1, 2] and all(0 <= p["ssim"] <= 1 for p in curve)


def test_the_key_recovery_is_scored_and_the_exposure_uses_the_strongest_white_box_attack(results):
    # 6 tensors of 2 synthetic identities give little away; on ORL recovery is exact (tests/test_key_recovery.py).
    assert 0 <= results["key_recovered_fraction"] <= 1
    white = ("analytic_white_box", "cgan_white_box", "decoder_white_box", "unmix_white_box", "unmix_pooled",
             "pool_white_box")
    recon = results["reconstruction"]
    assert results["exposure_attack"] == max(white, key=lambda name: recon[name]["ssim_best"])
    # k = 3: every tensor mixes, and the judge's verdict on the 2nd component is reported.
    assert 0 <= results["reconstruction"]["decoder_white_box"]["id_accuracy_second"] <= 1


def test_an_unprotected_run_is_inverted_exactly(tmp_path):
    run_training(_config(channels="all", key=None, hyperparams={"k": 1}), tmp_path, progress=False)
    results = evaluate_run(tmp_path, TINY, progress=False)
    analytic = results["reconstruction"]["analytic_white_box"]
    assert analytic["ssim_best"] == pytest.approx(1.0, abs=1e-6) and analytic["psnr_best"] > 50
    assert results["summary"]["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert results["exposure"]["1"]["ssim"] == pytest.approx(1.0, abs=1e-6)
    # k = 1 without noise: every epoch exposes the observed tensor, so linking 20 of them adds nothing.
    assert results["exposure"]["20"] == results["exposure"]["1"] == results["exposure"]["best"]


def test_evaluate_is_reproducible(run_dir, results):
    again = evaluate_run(run_dir, TINY, progress=False, reference_accuracy=0.5, overwrite=True)
    assert again["summary"] == results["summary"] and again["scores"] == results["scores"]
    assert again["intervals"] == results["intervals"]


def test_cli_evaluate(run_dir, capsys):
    assert main(["evaluate", "--run", str(run_dir), "--budget", "tiny", "--no-progress", "--threads", "1",
                 "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "strongest attack per figure" in out and "score_pp" in out and "20 linked epochs" in out
    assert "↑ leaks more" in out and "chance" in out
    for name in ("privacy_tiny.json", "privacy_tiny.png", "privacy_tiny.npz"):  # every file written, named
        assert str(run_dir / name) in out


def test_the_faces_pictured_are_saved_with_the_judges_verdicts(run_dir, results):
    samples, verdicts = load_faces(run_dir / "privacy_tiny.npz")
    pictured = [name for name in samples if name in ATTACKS_REGISTERED.names()]
    assert list(samples)[0] == "target" and "identity" in samples and set(verdicts) == set(pictured)
    assert all(v.dtype == bool and len(v) == len(samples[name]) for name, v in verdicts.items())
    # A reconstruction row is judged against the identities of the faces above it.
    assert all(len(samples[name]) == len(samples["target"]) for name in pictured
               if ATTACKS_REGISTERED.get(name).family == "reconstruction")


def test_results_hold_every_chance_level_and_the_thread_count(results):
    assert set(results["chance"]) >= set(results["summary"]) & {"ssim", "psnr", "recon_id_accuracy", "mia_top1",
                                                                 "mia_top5", "knn_distance"}
    assert results["chance"]["recon_id_accuracy"] == results["chance"]["identity"] == 0.5  # 2 private identities
    assert 0 < results["chance"]["ssim"] < 1 and results["torch_threads"] == torch.get_num_threads()


def _error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("freqmix: error: ") and "\n" not in err
    return err


def test_unknown_budget_is_one_line(run_dir, capsys):
    assert "unknown budget 'defualt'" in _error(["evaluate", "--run", str(run_dir), "--budget", "defualt"], capsys)


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
    config["transform"]["channels"] = "no-dc"  # 63 channels, the checkpoint takes 36
    (broken / "config.json").write_text(json.dumps(config))
    assert "does not match" in _error(["evaluate", "--run", str(broken), "--budget", "smoke"], capsys)


def test_run_without_private_identities(run_dir, tmp_path, capsys):
    broken = tmp_path / "everyone"
    shutil.copytree(run_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["task"]["private_fraction"] = None
    (broken / "config.json").write_text(json.dumps(config))
    assert "--private-fraction" in _error(["evaluate", "--run", str(broken)], capsys)


def test_the_protection_record_is_the_run_s_pieces_whole():
    # Field by field it left drop out, and ppfr and partial (a random quarter of ppfr's channels) read the same.
    truth = Protection.of(FrequencyTransform(1, "high", key=3), {1: 1.0})
    records = {name: protection_record(TrainConfig().defended_by(defense_of(name, 0)), truth, epochs=3)
               for name in ("ppfr", "partial")}
    assert records["ppfr"] != records["partial"]
    assert {**records["ppfr"]["recipe"], "drop": PARTIAL_DROP} == records["partial"]["recipe"]
    assert records["ppfr"]["transform"] == records["partial"]["transform"] == asdict(defense_of("ppfr", 0).transform)



def test_a_run_that_draws_each_exposure_afresh_is_read_merged_too(tmp_path):
    # partial's recipe at k = 1: every epoch keeps another quarter of the channels, so linked tensors merge.
    run_training(_config(hyperparams={"k": 1}, drop=0.75), tmp_path, progress=False)
    results = evaluate_run(tmp_path, TINY, progress=False)
    assert {"merged5", "merged20"} <= set(results["exposure"])
    linked = {key: v["ssim"] for key, v in results["exposure"].items() if key != "best"}
    assert results["summary"]["ssim"] >= max(linked.values()) - 1e-12
    assert results["summary"]["ssim_view"] in {OBSERVED_VIEW, *map(exposure_view, linked)}


def test_the_record_says_how_many_faces_met_each_recipe_over_the_run():
    # A weak recipe drawn for 2% of the batches still reaches 1 − 0.98²⁰⁰ = 98% of the faces over 200 epochs.
    truth = Protection(FrequencyTransform(1, "high", key=3), {Recipe(k=1): 0.02, Recipe(k=1, sign_flip=True): 0.98})
    record = protection_record(TrainConfig(), truth, epochs=200)
    exposed = {entry["sign_flip"]: entry["faces_exposed"] for entry in record["recipes"]}
    assert exposed[False] == pytest.approx(1 - 0.98 ** 200) and exposed[True] == pytest.approx(1.0)
    assert record["linear_faces_exposed"] == pytest.approx(0.9824, abs=1e-4)


def test_a_run_of_several_recipes_is_also_read_by_its_weakest(run_dir, tmp_path):
    # The run's agent chose k = 1 for a third of its batches and flipped k = 3 mixes for the rest (metrics edited):
    # each face that met the unmixed recipe is read from that exposure, by every attack run against it alone.
    shutil.copytree(run_dir, tmp_path / "run")
    metrics_path = tmp_path / "run" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["recipe_histogram"] = [{**asdict(Recipe(k=1, weights="uniform")), "count": 1},
                                   {**asdict(Recipe(k=3, sign_flip=True)), "count": 2}]
    metrics_path.write_text(json.dumps(metrics))
    results = evaluate_run(tmp_path / "run", TINY, progress=False, overwrite=True)
    reading = results["recipe_aware"]
    assert (reading["recipe"]["k"], reading["recipe"]["sign_flip"]) == (1, False)
    assert reading["probability"] == pytest.approx(1 / 3)
    assert 0.0 <= reading["faces_met"] <= 1.0 and "recipe-aware reading" in results["stage_seconds"]
    for figure in ("ssim", "psnr", "recon_id_accuracy"):
        assert results["summary"][figure] == pytest.approx(max(reading["mixture"][figure], reading["reading"][figure]))
        assert np.mean(results["per_image"][figure]) == pytest.approx(results["summary"][figure])
