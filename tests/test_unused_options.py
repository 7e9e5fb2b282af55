"""An option that does nothing is refused in one line: the env's keywords (k is the action), a field whose ``needs``
the others do not meet, and k, which only the fixed agent takes (its hyperparameter; no other builder sees it)."""
import inspect

import gymnasium as gym
import pytest

import mixup_env  # noqa: F401  (registers the env ids)
from agents.baselines import FixedK
from agents.build import build_agent
from agents.registry import AGENTS
from freqmix_base.errors import FreqmixError
from freqmix_base.fields import UnusedOptionError, option, refuse_unused, unused_fields
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.env import FreqMixUpEnv
from mixup_env.env_config import EnvConfig
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.data import synthetic_faces

TINY = dict(batch_size=12, embedding_dim=16)


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)


@pytest.mark.parametrize("options, message", [
    (dict(k=6), "k does nothing: the k action chooses it for every batch"),
    (dict(action="recipe", weights="uniform"), "weights does nothing: the recipe action chooses it"),
    (dict(action="recipe", alpha=2.0), "alpha does nothing: the recipe action chooses it"),
    (dict(action="recipe", sign_flip=True), "sign_flip does nothing: the recipe action chooses it"),
    (dict(action="recipe", drop=0.1), "drop does nothing: the recipe action chooses it"),
    (dict(n_high=20), "n_high does nothing unless channels is 'high'"),
    (dict(channels="no-dc", n_high=36), "n_high does nothing unless channels is 'high'"),  # its default, typed
    (dict(weights="uniform", alpha=0.5), "alpha does nothing unless weights is 'dirichlet'"),
    (dict(lambda_lr=3.0), "lambda_lr does nothing unless reward is 'constrained'"),
    (dict(privacy="leakage"), "privacy does nothing unless reward is 'constrained'"),
    (dict(ascent="plain"), "ascent does nothing unless reward is 'constrained'"),
    (dict(lambda_kp=1.0), "lambda_kp does nothing unless reward is 'constrained'"),
    (dict(constraint_start=0.5), "constraint_start does nothing unless reward is 'constrained'"),
    (dict(reward="constrained", utility_weight=1.0), "utility_weight does nothing unless reward is 'loss'"),
    (dict(image_size=32), "image_size does nothing when data is a dataset"),
    (dict(data_seed=1), "data_seed does nothing when data is a dataset"),
])
def test_the_env_refuses_a_keyword_it_would_ignore(faces, options, message):
    with pytest.raises(UnusedOptionError, match=message) as refused:
        FreqMixUpEnv(faces, **TINY, **options)
    assert "\n" not in str(refused.value) and isinstance(refused.value, FreqmixError)


def test_the_env_refuses_a_whole_config_whose_recipe_sets_k(faces):
    with pytest.raises(UnusedOptionError, match="default_recipe.k=3 does nothing"):
        FreqMixUpEnv(faces, EnvConfig(default_recipe=Recipe(k=3)))


def test_the_env_refuses_a_leakage_attack_its_reward_never_scores(faces):
    attack = AnalyticInverse.fit(FrequencyTransform(1), faces.images)
    with pytest.raises(UnusedOptionError, match="leakage_attack does nothing: the loss reward"):
        FreqMixUpEnv(faces, leakage_attack=attack, **TINY)
    env = FreqMixUpEnv(faces, leakage_attack=attack, reward="constrained", privacy="leakage", **TINY)
    assert env.leakage.attack is attack


def test_gym_make_with_k_is_refused_where_it_used_to_train_at_k_2():
    # The report of issue #32: accepted, and step(0) trained at k = 2.
    with pytest.raises(UnusedOptionError, match="k does nothing"):
        gym.make("mixup_env:FreqMixUp-v0", image_size=32, k=6)


def test_the_options_an_env_uses_are_taken(faces):
    env = FreqMixUpEnv(faces, channels="high", n_high=20, weights="dirichlet", alpha=0.5, reward="constrained",
                       lambda_lr=3.0, **TINY)
    assert (env.transform.out_channels, env.config.default_recipe.alpha, env.config.objective.lambda_lr) == (
        20, 0.5, 3.0)
    assert env.codec.decode(0) == Recipe(k=2, alpha=0.5)


def test_unused_fields_follow_the_needs_a_configuration_declares():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Piece:
        mode: str = "a"
        width: int = option(1, "used in mode b", needs=("mode", "b"))
        path: str | None = None
        depth: int = option(2, "used with a path", needs=("path", "given"))

    assert unused_fields(Piece()) == {"width": ("mode", "b"), "depth": ("path", "given")}
    assert unused_fields(Piece(mode="b", path="/x")) == {}
    with pytest.raises(UnusedOptionError, match="--width does nothing unless --mode is 'b'; drop it"):
        refuse_unused(Piece(), ["mode", "width"], spell=lambda name: "--" + name)
    refuse_unused(Piece(), ["mode", "path"])  # what is not given is not refused


def test_k_is_the_fixed_agent_s_hyperparameter_and_no_other_builder_sees_it(faces):
    env = FreqMixUpEnv(faces, **TINY)
    agent = build_agent("fixed", env, seed=0, hyperparams={"k": 4})
    assert isinstance(agent, FixedK) and agent.recipe.k == 4
    assert build_agent("fixed", env, seed=0).recipe.k == AGENTS.get("fixed").defaults["k"] == 2
    for name in ("random", "linear"):
        with pytest.raises(FreqmixError, match=f"unknown hyperparameter 'k' for agent '{name}'; it takes none"):
            build_agent(name, env, seed=0, hyperparams={"k": 4})
    with pytest.raises(FreqmixError, match="'k'"):
        build_agent("ppo", env, seed=0, hyperparams={"k": 4}, env_id="FreqMixUp-v0")
    # Every chooser's build takes (env, seed, hyperparams) and its entry's fixed kwargs: k reaches none of them.
    for name, entry in AGENTS.items():
        if not entry.learns:
            assert list(inspect.signature(entry.load()).parameters) == ["env", "seed", "hyperparams",
                                                                         *entry.kwargs], name
