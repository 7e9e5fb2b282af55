"""Typed configurations: the run's nested pieces handed to the env, updated from flat options, round-tripped
through config.json (nested, and the flat files of older versions)."""
import json

import pytest

from agents.baselines import FixedK
from agents.config import AgentConfig
from freqmix.experiment.config import TrainConfig
from freqmix_base.errors import FreqmixError
from freqmix_base.fields import UnknownFieldError, with_fields
from mixup_env.env_config import EnvConfig
from mixup_env.recipe import Recipe
from mixup_env.rewards import RewardConfig
from mixup_env.spaces import ActionCodec
from mixup_env.transform_config import TransformConfig
from recognizer.config import RecognizerConfig


def test_train_config_hands_each_piece_its_own_fields():
    config = TrainConfig.of(agent="fixed", hyperparams={"k": 8}, env="FreqMixUpRecipe-v0", channels="high", n_high=20, key=7,
                            upsample=2, weights="uniform", alpha=0.5, sign_flip=True, drop=0.25, laplace_epsilon=3.0,
                            backbone="iresnet18", head="cosface", embedding_dim=64, lr=0.05, batch_size=16,
                            probe_every=5, reward="loss", utility_weight=2.0, accuracy_target=0.8, augment_shift=0.0)
    env = config.env_config(total_steps=123)
    assert env == EnvConfig(
        action="recipe", k_choices=(2, 3, 4, 5, 6, 8),
        default_recipe=Recipe(weights="uniform", alpha=0.5, sign_flip=True, drop=0.25, laplace_epsilon=3.0),
        transform=TransformConfig(channels="high", n_high=20, key=7, upsample=2),
        recognizer=RecognizerConfig(backbone="iresnet18", head="cosface", embedding_dim=64, lr=0.05),
        batch_size=16, total_steps=123, probe_every=5, objective=RewardConfig(utility_weight=2.0, accuracy_target=0.8),
        augment_shift=0.0)
    assert config.agent == AgentConfig(name="fixed", hyperparams={"k": 8}, env_id="FreqMixUpRecipe-v0")


def test_flat_options_reach_nested_fields_and_unknown_ones_fail():
    config = with_fields(EnvConfig(), batch_size=8, channels="no-dc", embedding_dim=32)
    assert (config.batch_size, config.transform.channels, config.recognizer.embedding_dim) == (8, "no-dc", 32)
    assert config.transform.n_high == TransformConfig().n_high and config.recognizer.head == "arcface"
    with pytest.raises(UnknownFieldError, match="'chanels'.*channels"):
        with_fields(EnvConfig(), chanels="no-dc")
    assert issubclass(UnknownFieldError, FreqmixError)
    assert TrainConfig.of(lr=0.3).recognizer == RecognizerConfig(lr=0.3)
    with pytest.raises(UnknownFieldError, match="'chanels'.*channels"):
        TrainConfig.of(chanels="no-dc")


def test_config_json_round_trips_nested():
    config = TrainConfig.of(data="/faces", agent="reinforce", key=3, laplace_epsilon=1.5, steps=40,
                            hyperparams={"n_steps": 8}, val=["a.bin"], channels=[1, 2, 3])
    saved = json.loads(config.to_json())
    assert saved["transform"]["key"] == 3 and saved["agent"]["hyperparams"] == {"n_steps": 8}  # nested as it is
    restored = TrainConfig.from_json(config.to_json())
    assert restored.flat() == json.loads(json.dumps(config.flat()))  # a JSON round trip makes tuples lists
    assert TrainConfig.from_json(TrainConfig.of(steps=7).to_json()) == TrainConfig.of(steps=7)
    # keys a nested file lacks keep their defaults (input_norm too), extras are skipped
    del saved["training"]["augment_shift"], saved["recognizer"]["input_norm"], saved["training"]["sampler"]
    saved["resolved_steps"] = 40
    older = TrainConfig.from_json(json.dumps(saved))
    assert older.training.augment_shift == EnvConfig().augment_shift and older.recognizer.input_norm == "rms"
    # but runs saved before the sampler existed shuffled their faces, and rerun as they were
    assert older.training.sampler == "shuffle" and config.training.sampler == EnvConfig().sampler == "balanced"
    assert TrainConfig.from_json(TrainConfig.of(sampler="balanced").to_json()).training.sampler == "balanced"
    with pytest.raises(FreqmixError, match="not valid JSON"):
        TrainConfig.from_json("{")


# The config.json of a run trained before the configuration was nested (and before input_norm existed).
OLD_FLAT = {"data": "/faces", "agent": "fixed", "k": 3, "env": "FreqMixUp-v0", "channels": "all", "n_high": 36,
            "key": None, "upsample": 1, "image_size": 32, "weights": "dirichlet", "alpha": 1.0, "sign_flip": False,
            "drop": 0.0, "laplace_epsilon": None, "backbone": "small", "head": "arcface", "embedding_dim": 128,
            "lr": 0.1, "batch_size": 32, "device": "cpu", "precision": "fp32", "channels_last": False, "nproc": 1,
            "steps": 40, "epochs": 100, "probe_every": 10, "reward": "constrained", "accuracy_target": 0.85,
            "lambda_lr": 2.0, "privacy": "loss", "constraint_start": 0.0, "lambda_kp": 0.0, "ascent": "conditional",
            "utility_weight": 0.0, "episode": "epoch", "episodes": 1, "train_identities": "private",
            "augment_shift": 0.07, "train_per_identity": None, "drop_small_identities": False, "pairs": None,
            "val": None, "stream": False, "data_workers": 2, "private_fraction": None, "seed": 0, "hyperparams": {},
            "resolved_steps": 40}


def test_flat_config_json_of_older_versions_is_read():
    config = TrainConfig.from_json(json.dumps(OLD_FLAT))
    assert config == TrainConfig.of(data="/faces", hyperparams={"k": 3}, image_size=32, steps=40, epochs=100,
                                    input_norm="none", sampler="shuffle")
    assert config.recognizer.input_norm == "none"  # such runs trained without one, so their reruns do too
    old_k = {key: value for key, value in OLD_FLAT.items() if key != "k"}  # the fixed agent's k: a hyperparameter
    assert {**config.flat(), "resolved_steps": 40} == {**old_k, "input_norm": "none", "pretrain_on": None,
                                                       "pretrain_epochs": 20, "pretrain_k": 1, "sampler": "shuffle",
                                                       "hyperparams": {"k": 3}, "exposure": "batch",
                                                       "drop_secret": False, "k_min": 2, "augment_step": 1,
                                                       "partners": "batch"}
    learner = TrainConfig.from_json(json.dumps({**OLD_FLAT, "agent": "reinforce"}))
    assert learner.agent.hyperparams == {}  # other agents ignored the k older files saved
    with_norm = TrainConfig.from_json(json.dumps({**OLD_FLAT, "input_norm": "rms", "reward": "loss"}))
    assert (with_norm.recognizer.input_norm, with_norm.objective.reward) == ("rms", "loss")
    lacking = {key: value for key, value in OLD_FLAT.items() if key != "augment_shift"}
    assert TrainConfig.from_json(json.dumps(lacking)) == config  # keys a file lacks keep their defaults


def test_flat_names_are_unique_and_cover_every_piece_field_with_a_flag():
    from freqmix.experiment.config import flat_fields

    names = flat_fields()
    assert len(names) == len(TrainConfig().flat()) == len({(piece, f.name) for piece, f, _ in names.values()})
    assert {"agent", "env", "hyperparams", "channels", "weights", "reward", "probe_every", "seed"} <= set(names)
    assert "data_parallel" not in names and "k" not in names  # k is the fixed agent's hyperparameter


def test_baselines_keep_every_non_k_field_of_the_default_recipe():
    default = Recipe(k=2, weights="uniform", sign_flip=True, drop=0.25, laplace_epsilon=0.5)
    codec = ActionCodec("k", (2, 3, 4), default)
    assert FixedK(4, codec).recipe == Recipe(k=4, weights="uniform", sign_flip=True, drop=0.25, laplace_epsilon=0.5)


def test_the_torch_free_name_lists_are_the_registries_names():
    from recognizer.config import INPUT_NORM_NAMES
    from recognizer.input_norm import INPUT_NORMS

    assert INPUT_NORM_NAMES == INPUT_NORMS.names()


def test_nested_config_json_of_older_versions_moves_k_to_the_fixed_agent():
    saved = json.loads(TrainConfig.of(agent="fixed", hyperparams={"k": 5}).to_json())
    saved["agent"] = {"name": "fixed", "k": 5, "hyperparams": {}, "env_id": "FreqMixUp-v0"}  # as older runs wrote it
    assert TrainConfig.from_json(json.dumps(saved)).agent.hyperparams == {"k": 5}
    saved["agent"] = {"name": "ppo", "k": 2, "hyperparams": {"n_steps": 8}, "env_id": "FreqMixUp-v0"}
    assert TrainConfig.from_json(json.dumps(saved)).agent.hyperparams == {"n_steps": 8}


def test_the_recipe_k_of_a_run_is_refused():
    with pytest.raises(FreqmixError, match="recipe.k=3 does nothing: k is the agent's choice"):
        TrainConfig(recipe=Recipe(k=3))
