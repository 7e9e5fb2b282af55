"""The defense registry: names, the paper's hybrid mask as the default of the mixing defenses, the secret key, and a
defense as a typed override of the run configuration."""
from dataclasses import replace

import pytest
import torch

from freqmix.experiment.config import TrainConfig
from freqmix.experiment.defenses import DEFENSES, Defense, defense_of, parse_defenses, recipe_defenses, secret_key
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform, zigzag_order
from mixup_env.recipe import Recipe
from mixup_env.transform_config import TransformConfig

MIXING = ["fixed2", "fixed3", "fixed4", "fixed5", "fixed6", "random", "adaptive"]
SCHEDULED_AND_AGENTS = ["linear", "step", "cosine", "reinforce-loss", "reinforce-constrained", "ppo-loss",
                        "ppo-constrained", "reinforce-decoder"]


def _transform(name, seed=0):
    config = TrainConfig().defended_by(defense_of(name, seed))
    return config, FrequencyTransform.from_config(1, config.transform)


def test_the_issue_s_defenses_are_all_there():
    expected = {"none", "ppfr", "partial", "partial-secret", "dctdp", "instahide", *MIXING, *(f"{name}-nodc" for name in MIXING),
                *SCHEDULED_AND_AGENTS, *recipe_defenses(), "adaptive-recipe",
                "hybrid4-pool", "hybrid4-flip-pool"}
    assert set(DEFENSES) == expected


@pytest.mark.parametrize("name", MIXING + SCHEDULED_AND_AGENTS)
def test_mixing_defenses_use_the_hybrid_mask(name):
    # PPFR-FD's mask: the 36 highest zigzag frequencies of the block, shuffled with the run's key, then MixUp.
    config, transform = _transform(name, seed=4)
    ppfr_config, ppfr = _transform("ppfr", seed=4)
    highest = sorted(zigzag_order()[64 - 36:])
    assert sorted(transform.kept.tolist()) == highest and 0 not in transform.kept.tolist()
    assert torch.equal(transform.kept, ppfr.kept) and config.transform.key == secret_key(4)
    assert not torch.equal(transform.kept, torch.tensor(highest))  # shuffled
    assert config.agent.name != "fixed" or config.agent.fixed_k() == int(name[5:])


@pytest.mark.parametrize("name", MIXING)
def test_nodc_variants_keep_63_channels_and_the_same_mixing(name):
    config, transform = _transform(f"{name}-nodc")
    # adaptive-nodc is the earlier adaptive: the paper's agent without flips.
    hybrid, _ = _transform("reinforce-constrained" if name == "adaptive" else name)
    assert sorted(transform.kept.tolist()) == list(range(1, 64))
    assert (config.agent, config.recipe) == (hybrid.agent, hybrid.recipe)


def test_a_defense_overrides_the_protection_whole_and_round_trips_through_config_json():
    # Protection options of the base run never leak into a defense: its pieces replace the base's whole.
    base = TrainConfig.of(channels="no-dc", key=9, weights="uniform", drop=0.5, agent="ppo", reward="loss",
                          accuracy_target=0.7, hyperparams={"n_steps": 8}, seed=3)
    run = base.defended_by(defense_of("ppfr", 3))
    assert run.transform == TransformConfig(channels="high", key=secret_key(3)) and run.recipe == Recipe()
    assert (run.agent.name, run.agent.hyperparams) == ("fixed", {"k": 1})
    assert (run.objective.reward, run.objective.accuracy_target, run.seed) == ("loss", 0.7, 3)  # the rest: the base's
    adaptive = base.defended_by(defense_of("adaptive", 3), {"n_steps": 8})
    assert (adaptive.agent.name, adaptive.agent.hyperparams, adaptive.objective.reward) == (
        "reinforce", {"n_steps": 8}, "constrained")
    # A defense that names its privacy term sets it; the others keep the run's.
    assert base.with_options(privacy="leakage").defended_by(defense_of("adaptive", 3)).objective.privacy == "leakage"
    assert base.defended_by(defense_of("reinforce-decoder", 3)).objective.privacy == "decoder-leakage"
    for name in DEFENSES:  # training reads back exactly the fields the defense set
        defense = defense_of(name, 1)
        restored = TrainConfig.from_json(base.defended_by(defense).to_json())
        assert (restored.transform, restored.recipe) == (defense.transform, defense.recipe), name
        assert (restored.agent.name, restored.agent.fixed_k(), restored.objective.reward) == (
            defense.agent, defense.k, defense.reward), name


def test_keys_follow_the_seed_and_only_keyed_defenses_have_one():
    assert defense_of("none", 0).transform.key is None and defense_of("dctdp", 0).transform.key is None
    assert defense_of("ppfr", 1).transform.key == secret_key(1) == defense_of("fixed4", 1).transform.key
    assert secret_key(1) != secret_key(2)
    assert Defense(agent="runs/seed{seed}/agent.zip").for_seed(4).agent == "runs/seed4/agent.zip"


def test_specific_defenses():
    insta = defense_of("instahide", 0)
    assert (insta.k, insta.recipe.sign_flip, insta.recipe.weights) == (4, True, "instahide")
    assert defense_of("dctdp", 0).recipe.laplace_epsilon > 0
    # The adaptive defense is the paper's agent over k on the recipe field that protected best: sign flips.
    adaptive, paper = defense_of("adaptive", 0), defense_of("reinforce-constrained", 0)
    assert (adaptive.agent, adaptive.reward, adaptive.recipe.sign_flip) == ("reinforce", "constrained", True)
    assert adaptive == replace(paper, recipe=replace(paper.recipe, sign_flip=True))
    assert defense_of("adaptive-nodc", 0).recipe.sign_flip is False
    assert defense_of("random", 0).agent == "random"


def test_partial_keeps_a_different_quarter_of_ppfr_s_channels_in_every_tensor():
    import numpy as np

    from attacks.protection import Protection
    from recognizer.data import synthetic_faces

    config, transform = _transform("partial", seed=2)
    assert torch.equal(transform.kept, _transform("ppfr", seed=2)[1].kept) and config.agent.fixed_k() == 1
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    protection = Protection.of(transform, {1: 1.0}, config.recipe, batch_size=8)
    tensors = protection.protect_all(faces.images.float(), faces.labels, np.random.default_rng(0)).tensors
    live = tensors.abs().sum(dim=(2, 3)) > 0  # (16, 36): which channels each tensor kept
    assert live.sum(dim=1).tolist() == [9] * 16
    assert len({tuple(row.tolist()) for row in live}) > 8  # the subsets differ from tensor to tensor


def test_partial_secret_keeps_each_face_s_quarter_in_every_epoch_and_the_attacker_sees_one_exposure():
    import numpy as np

    from attacks.protection import Protection
    from recognizer.data import synthetic_faces

    config, transform = _transform("partial-secret", seed=2)
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    protection = Protection.of(transform, {1: 1.0}, config.recipe, batch_size=8)
    epochs = [protection.protect_all(faces.images.float(), faces.labels, np.random.default_rng(seed), named=True)
              .tensors for seed in (0, 1)]
    assert torch.equal(epochs[0], epochs[1])  # other batches, the same tensor of each face
    live = epochs[0].abs().sum(dim=(2, 3)) > 0
    assert live.sum(dim=1).tolist() == [9] * 16 and len({tuple(row.tolist()) for row in live}) > 8
    assert protection.deterministic and not protection.invertible
    # A party simulating the defense on its own faces (the attacker training its decoder) draws afresh.
    simulated = [protection.protect_all(faces.images.float(), faces.labels, np.random.default_rng(seed)).tensors
                 for seed in (0, 1)]
    assert not torch.equal(*simulated)
    fresh = Protection.of(transform, {1: 1.0}, _transform("partial", seed=2)[0].recipe, batch_size=8)
    assert not fresh.deterministic


def test_parse_defenses():
    assert parse_defenses(" none, fixed2 ,none") == ["none", "fixed2"]
    with pytest.raises(FreqmixError, match="unknown defense 'fixed9'.*did you mean"):
        parse_defenses("none,fixed9")
    with pytest.raises(FreqmixError, match="empty"):
        parse_defenses(" , ")


def test_the_recipe_grid_adds_each_non_linear_field_to_the_hybrid_mask_at_k_1_and_4():
    grid = recipe_defenses()
    assert len(grid) == 2 * (7 + 4) and set(grid) <= set(DEFENSES.names())  # 4 of the 7 drop channels: -secret too
    secret = DEFENSES.get("hybrid1-flip-drop-secret").recipe
    assert (secret.sign_flip, secret.drop, secret.drop_secret) == (True, 0.5, True)
    assert not DEFENSES.get("hybrid1-flip-drop").recipe.drop_secret
    both = DEFENSES.get("hybrid4-flip-drop")
    assert (both.k, both.recipe.sign_flip, both.recipe.drop, both.recipe.laplace_epsilon) == (4, True, 0.5, None)
    noise = DEFENSES.get("hybrid1-noise")
    assert (noise.k, noise.recipe.sign_flip, noise.recipe.drop, noise.recipe.laplace_epsilon) == (1, False, 0.0, 1.0)
    # Each is the hybrid mask (ppfr's channels, keyed shuffle, Dirichlet(1) weights) and differs only in its fields.
    for defense in grid.values():
        assert defense.keyed and defense.transform == DEFENSES.get("ppfr").transform
        assert (defense.recipe.weights, defense.recipe.alpha) == ("dirichlet", 1.0)


def test_adaptive_recipe_chooses_whole_recipes_from_k_1_under_the_worst_exposure():
    config = TrainConfig().defended_by(defense_of("adaptive-recipe", 4))
    assert (config.agent.name, config.agent.env_id, config.agent.k_choices()) == (
        "reinforce", "FreqMixUpRecipe-v0", (1, 2, 3, 4, 5, 6))
    assert (config.objective.reward, config.objective.privacy, config.objective.exposure) == (
        "constrained", "leakage", "worst")
    assert config.recipe == Recipe(drop_secret=True) and config.transform.key == secret_key(4)
    # A defense that names none of them leaves the run's own agent env and reading, and the paper's k.
    plain = TrainConfig.of(exposure="worst", privacy="leakage", reward="constrained").defended_by(
        defense_of("adaptive", 0))
    assert (plain.agent.env_id, plain.agent.k_choices(), plain.objective.exposure) == (
        "FreqMixUp-v0", (2, 3, 4, 5, 6), "worst")
