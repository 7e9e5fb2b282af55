"""Typed configurations: built from the run's flat record by field name, updated from flat options, round-tripped
through config.json."""
import json
from dataclasses import asdict

import pytest

from agents.baselines import FixedK
from freqmix.experiment.config import TrainConfig
from freqmix_base.errors import FreqmixError
from freqmix_base.fields import UnknownFieldError, pick, with_fields
from mixup_env.env import EnvConfig
from mixup_env.frequency import TransformConfig
from mixup_env.masking import Recipe
from mixup_env.rewards import RewardConfig
from mixup_env.spaces import ActionCodec
from recognizer.trainer import RecognizerConfig


def test_train_config_hands_each_piece_its_own_fields():
    config = TrainConfig(agent="fixed", k=8, env="FreqMixUpRecipe-v0", channels="high", n_high=20, key=7,
                         upsample=2, weights="uniform", alpha=0.5, sign_flip=True, drop=0.25, laplace_epsilon=3.0,
                         backbone="iresnet18", head="cosface", embedding_dim=64, lr=0.05, batch_size=16,
                         probe_every=5, reward="loss", utility_weight=2.0, accuracy_target=0.8, augment_shift=0.0)
    env = config.env_config(total_steps=123)
    assert env == EnvConfig(
        action="recipe", k_choices=(2, 3, 4, 5, 6, 8),
        default_recipe=Recipe(k=2, weights="uniform", alpha=0.5, sign_flip=True, drop=0.25, laplace_epsilon=3.0),
        transform=TransformConfig(channels="high", n_high=20, key=7, upsample=2),
        recognizer=RecognizerConfig(backbone="iresnet18", head="cosface", embedding_dim=64, lr=0.05),
        batch_size=16, total_steps=123, probe_every=5, objective=RewardConfig(utility_weight=2.0, accuracy_target=0.8),
        augment_shift=0.0)
    agent = config.agent_config()
    assert (agent.name, agent.k, agent.env_id) == ("fixed", 8, "FreqMixUpRecipe-v0")


def test_flat_options_reach_nested_fields_and_unknown_ones_fail():
    config = with_fields(EnvConfig(), batch_size=8, channels="no-dc", embedding_dim=32)
    assert (config.batch_size, config.transform.channels, config.recognizer.embedding_dim) == (8, "no-dc", 32)
    assert config.transform.n_high == TransformConfig().n_high and config.recognizer.head == "arcface"
    with pytest.raises(UnknownFieldError, match="'chanels'.*channels"):
        with_fields(EnvConfig(), chanels="no-dc")
    assert issubclass(UnknownFieldError, FreqmixError)
    assert pick(RecognizerConfig, TrainConfig(lr=0.3), device="cuda") == RecognizerConfig(lr=0.3, device="cuda")


def test_config_json_round_trips_and_reads_files_of_older_versions():
    config = TrainConfig(data="/faces", agent="reinforce", key=3, laplace_epsilon=1.5, steps=40,
                         hyperparams={"n_steps": 8})
    assert TrainConfig.from_json(config.to_json()) == config
    old = {k: v for k, v in asdict(config).items() if k != "augment_shift"} | {"resolved_steps": 40}
    assert TrainConfig.from_json(json.dumps(old)) == config  # augment_shift keeps its default, extras are skipped
    before_input_norm = {k: v for k, v in asdict(config).items() if k != "input_norm"}
    assert TrainConfig.from_json(json.dumps(before_input_norm)).input_norm == "none"  # as such runs trained
    with pytest.raises(FreqmixError, match="not valid JSON"):
        TrainConfig.from_json("{")


def test_baselines_keep_every_non_k_field_of_the_default_recipe():
    default = Recipe(k=2, weights="uniform", sign_flip=True, drop=0.25, laplace_epsilon=0.5)
    codec = ActionCodec("k", (2, 3, 4), default)
    assert FixedK(4, codec).recipe == Recipe(k=4, weights="uniform", sign_flip=True, drop=0.25, laplace_epsilon=0.5)
