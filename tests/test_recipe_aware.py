"""The recipe-aware reading (:mod:`attacks.recipe_aware`): recipes that cannot differ read as one, the attacker's
ranking puts the recipe that hides least first on real faces, how often each face met a recipe and from how many
linked epochs it is read, and the reading that replaces a figure only where it is stronger."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from attacks.metrics import privacy_scores
from attacks.protection import Protection
from attacks.recipe_aware import RECIPE_AWARE_VIEW, alike, links_read, rank_recipes, read_by_recipe, times_met
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.data import load_dataset


def test_recipes_that_mix_nothing_differ_only_where_they_change_a_tensor():
    assert alike(Recipe(k=1, weights="instahide")) == alike(Recipe(k=1, alpha=4.0)) == Recipe(k=1)
    assert alike(Recipe(k=1, alpha=4.0, sign_flip=True)) == Recipe(k=1, sign_flip=True)
    assert alike(Recipe(k=3, alpha=4.0)) == Recipe(k=3, alpha=4.0)  # a mix's weights are its protection


@pytest.fixture(scope="module")
def orl_faces(shared_data):
    faces = load_dataset(shared_data("orl"), image_size=64, seed=0)
    return faces.images[:96], faces.labels[:96]


def test_the_ranking_puts_fewer_faces_and_no_flip_first_on_real_faces(orl_faces):
    # The SSIM itself ranked a flipped mix of six above one of two (a blur towards the mean face scores well).
    images, labels = orl_faces
    recipes = [Recipe(k=6, sign_flip=True), Recipe(k=4), Recipe(k=1, sign_flip=True), Recipe(k=1),
               Recipe(k=2, sign_flip=True)]
    truth = Protection(FrequencyTransform(1, "high", key=3), dict.fromkeys(recipes, 0.2), batch_size=16)
    ranked = rank_recipes(truth, images, labels, seed=0)
    assert [recipe for recipe, _ in ranked] == [Recipe(k=1), Recipe(k=4), Recipe(k=1, sign_flip=True),
                                                Recipe(k=2, sign_flip=True), Recipe(k=6, sign_flip=True)]
    assert ranked[0][1] > 2 * ranked[1][1] > 0  # the unmixed, unflipped reading tells faces apart best by far


def test_times_met_follows_the_binomial_of_the_run_s_epochs():
    rng = np.random.default_rng(0)
    assert not times_met(0.0, 200, 100, rng).any() and (times_met(1.0, 3, 100, rng) == 3).all()
    times = times_met(0.02, 200, 20_000, rng)
    assert (times > 0).mean() == pytest.approx(1 - 0.98 ** 200, abs=0.005)
    assert times.mean() == pytest.approx(4.0, abs=0.05) and times.var() == pytest.approx(200 * 0.02 * 0.98, abs=0.1)


def test_a_face_is_read_from_the_most_linked_epochs_measured_that_it_met():
    assert links_read(np.array([0, 1, 4, 5, 19, 20, 26])).tolist() == [0, 1, 1, 5, 5, 20, 20]


def _results(ssim_values, recon_values):
    ssim_values, recon_values = np.asarray(ssim_values), np.asarray(recon_values)
    summary = {"ssim": ssim_values.mean(), "psnr": 10.0, "recon_id_accuracy": recon_values.mean(),
               "mia_top5": 0.5, **{f"{f}_view": "observed epoch" for f in ("ssim", "psnr", "recon_id_accuracy")},
               **{f"{f}_attack": "decoder_white_box" for f in ("ssim", "psnr", "recon_id_accuracy")}}
    per_image = {"ssim": ssim_values.tolist(), "psnr": [10.0] * len(ssim_values),
                 "recon_id_accuracy": recon_values.tolist()}
    return {"summary": summary, "per_image": per_image, "intervals": {}, "scores": {}}


def _exposures(e1, e5, e20):
    """An attack's per-image exposure columns: ``eN`` (ssim, psnr, recon-id lists) over N linked epochs."""
    return {f"exposure_{figure}_E{epochs}": values[i] for epochs, values in ((1, e1), (5, e5), (20, e20))
            for i, figure in enumerate(("ssim", "psnr", "recon_id_accuracy"))}


def test_the_reading_replaces_a_figure_only_where_it_is_stronger():
    # Every face met the weak recipe half of a million epochs: its values over 20 linked epochs are read.
    truth = Protection(FrequencyTransform(1, "high", key=3), {Recipe(k=1): 0.5, Recipe(k=1, sign_flip=True): 0.5},
                       batch_size=8)
    faces = torch.rand(16, 1, 32, 32) * 255
    labels = torch.arange(16) // 4
    results = _results([0.3, 0.4, 0.5, 0.6], [0.0, 0.0, 1.0, 0.0])
    asked = []

    def attack_alone(protection):
        asked.append(protection)
        return {"summary": {"ssim": 0.9, "psnr": 12.0, "recon_id_accuracy": 1.0}, "exposure_attack": "decoder",
                "per_image": _exposures(([0.1] * 4, [30.0] * 4, [0.0] * 4), ([0.2] * 4, [30.0] * 4, [0.0] * 4),
                                        ([0.8] * 4, [5.0] * 4, [1.0, 1.0, 0.0, 1.0]))}

    read_by_recipe(results, truth, attack_alone, faces, labels, epochs=1e6, num_identities=4, seed=0)
    assert asked == [replace(truth, recipes={Recipe(k=1): 1.0})]
    summary, reading = results["summary"], results["recipe_aware"]
    assert reading["faces_met"] == 1.0 and reading["faces_read_linked"] == {"1": 0.0, "5": 0.0, "20": 1.0}
    assert reading["recipe"]["sign_flip"] is False
    assert summary["ssim"] == pytest.approx(0.8) and summary["ssim_view"] == RECIPE_AWARE_VIEW
    assert summary["recon_id_accuracy"] == pytest.approx(0.75) and results["per_image"]["recon_id_accuracy"][2] == 0
    assert summary["psnr"] == 10.0 and summary["psnr_view"] == "observed epoch"  # 5 dB reads worse: kept
    assert reading["mixture"]["ssim"] == pytest.approx(0.45) and reading["reading"]["psnr"] == pytest.approx(5.0)
    low, high = results["intervals"]["recon_id_accuracy"]
    assert low <= 0.75 <= high
    assert results["scores"] == privacy_scores(0.8, 10.0, 0.75, 0.5, 4)


def test_faces_that_never_met_the_weak_recipe_keep_the_mixture_reading():
    truth = Protection(FrequencyTransform(1, "high", key=3), {Recipe(k=1): 1e-9, Recipe(k=1, sign_flip=True): 1 - 1e-9},
                       batch_size=8)
    results = _results([0.3, 0.4], [0.0, 1.0])
    alone = {"summary": {"ssim": 0.9, "psnr": 12.0, "recon_id_accuracy": 1.0}, "exposure_attack": "x",
             "per_image": _exposures(*[([0.9] * 2, [20.0] * 2, [1.0] * 2)] * 3)}
    read_by_recipe(results, truth, lambda _: alone, torch.rand(16, 1, 32, 32) * 255, torch.arange(16) // 4,
                   epochs=10, num_identities=4, seed=0)
    assert results["recipe_aware"]["faces_met"] == 0.0
    assert results["summary"]["ssim"] == pytest.approx(0.35) and results["summary"]["ssim_view"] == "observed epoch"


def test_each_face_is_read_from_as_many_linked_epochs_as_it_met():
    # Probability 0.1 over 100 epochs: about 10 meetings a face, so most faces are read from 5 linked epochs.
    truth = Protection(FrequencyTransform(1, "high", key=3), {Recipe(k=1): 0.1, Recipe(k=1, sign_flip=True): 0.9},
                       batch_size=8)
    faces = 400
    results = _results([0.0] * faces, [0.0] * faces)
    alone = {"summary": {"ssim": 0.9, "psnr": 9.0, "recon_id_accuracy": 1.0}, "exposure_attack": "x",
             "per_image": _exposures(([0.1] * faces, [1.0] * faces, [0.0] * faces),
                                     ([0.5] * faces, [5.0] * faces, [1.0] * faces),
                                     ([0.9] * faces, [9.0] * faces, [1.0] * faces))}
    read_by_recipe(results, truth, lambda _: alone, torch.rand(16, 1, 32, 32) * 255, torch.arange(16) // 4,
                   epochs=100, num_identities=4, seed=0)
    shares = results["recipe_aware"]["faces_read_linked"]
    assert shares["5"] > 0.8 and shares["20"] < 0.01
    assert shares["1"] + shares["5"] + shares["20"] == pytest.approx(results["recipe_aware"]["faces_met"])
    assert results["summary"]["ssim"] == pytest.approx(0.1 * shares["1"] + 0.5 * shares["5"] + 0.9 * shares["20"])
    assert results["summary"]["recon_id_accuracy"] == pytest.approx(shares["5"] + shares["20"])
