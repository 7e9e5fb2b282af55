"""The attacker's view replays each batch's recipe from the run's log: a run whose agent chooses whole recipes
(``FreqMixUpRecipe-v0``) is attacked under the recipes it used, by frequency, not under its default recipe."""
import csv
import json
from collections import Counter
from dataclasses import asdict, replace

import pytest

from freqmix.evaluate import protection_of
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.launch import run_training
from freqmix.experiment.steplog import recipe_of
from mixup_env.recipe import Recipe


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe-run")
    config = TrainConfig.of(data="synthetic", image_size=32, private_fraction=0.1, train_per_identity=3, steps=12,
                            batch_size=6, embedding_dim=16, channels="high", key=5, agent="reinforce",
                            env="FreqMixUpRecipe-v0", k_min=1, drop_secret=True)
    run_training(config, out, progress=False)
    return config, out


def test_the_step_log_and_the_metrics_hold_each_batch_s_whole_recipe(recipe_run):
    config, out = recipe_run
    with open(out / "steps.csv", newline="") as f:
        logged = [recipe_of(row, config.recipe) for row in csv.DictReader(f)]
    assert len(logged) == 12 and all(recipe.drop_secret for recipe in logged)  # the run's own fields kept
    assert len({(r.weights, r.alpha, r.sign_flip, r.drop) for r in logged}) > 1  # a fresh policy varies them
    metrics = json.loads((out / "metrics.json").read_text())
    counted = {Recipe(**{key: v for key, v in entry.items() if key != "count"}): entry["count"]
               for entry in metrics["recipe_histogram"]}
    assert counted == Counter(logged)
    truth = protection_of(config, metrics, 1)
    assert truth.recipes == {recipe: n / 12 for recipe, n in Counter(logged).items()}
    assert truth.k_probs == {k: n / 12 for k, n in Counter(r.k for r in logged).items()}


def test_a_run_logged_before_recipes_is_replayed_at_each_k_with_its_recipe():
    config = TrainConfig.of(channels="high", key=5, sign_flip=True)
    truth = protection_of(config, {"k_histogram": {"1": 3, "4": 1}}, 1)
    assert truth.recipes == {replace(config.recipe, k=1): 0.75, replace(config.recipe, k=4): 0.25}
    listed = {"recipe_histogram": [{**asdict(Recipe(k=2, sign_flip=True)), "count": 3},
                                   {**asdict(Recipe(k=1, drop=0.5)), "count": 1}], "k_histogram": {"1": 1, "2": 3}}
    assert protection_of(config, listed, 1).recipes == {Recipe(k=2, sign_flip=True): 0.75, Recipe(k=1, drop=0.5): 0.25}
