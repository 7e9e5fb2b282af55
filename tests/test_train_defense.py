"""``freqmix train --defense``: the run starts from a defense of ``freqmix compare`` (default: the best trade
measured, ``hybrid1-flip``), and the options given change it; ``--defense none`` is no protection: every piece at
its plain default, k = 1."""
import json

import pytest

from freqmix.cli import main
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.defenses import DEFAULT_DEFENSE, defense_of, secret_key

TINY = ["--image-size", "32", "--batch-size", "8", "--embedding-dim", "32", "--no-progress", "--steps", "2"]


def _trained(tmp_path, *given):
    out = tmp_path / "run"
    assert main(["train", *TINY, *given, "--out", str(out)]) == 0
    return TrainConfig.from_json((out / "config.json").read_text())


def test_the_default_protection_is_the_best_trade_with_its_key_drawn_from_the_seed(tmp_path):
    config = _trained(tmp_path, "--seed", "3")
    assert DEFAULT_DEFENSE == "adaptive"
    defense = defense_of(DEFAULT_DEFENSE, 3)
    assert (config.transform, config.recipe) == (defense.transform, defense.recipe)
    assert config.transform.channels == "high" and config.transform.key == secret_key(3)
    assert config.recipe.sign_flip and config.agent.name == "reinforce" and config.agent.k_min == 2
    assert config.objective.reward == "constrained"  # the agent learns under its defense's reward


def test_options_given_change_the_defense_field_by_field(tmp_path):
    config = _trained(tmp_path, "--k", "4", "--channels", "no-dc", "--key", "11")
    assert (config.agent.fixed_k(), config.transform.channels, config.transform.key) == (4, "no-dc", 11)
    assert config.recipe.sign_flip  # the rest stays the defense's


def test_a_k_given_replaces_the_agent_that_chose_k_and_keeps_the_mask(tmp_path):
    config = _trained(tmp_path, "--defense", "adaptive", "--k", "3", "--seed", "2")
    adaptive = defense_of("adaptive", 2)
    assert adaptive.agent == "reinforce" and (config.agent.name, config.agent.fixed_k()) == ("fixed", 3)
    assert (config.transform, config.recipe) == (adaptive.transform, adaptive.recipe)


def test_defense_none_is_the_plain_pipeline_unmixed(tmp_path):
    config = _trained(tmp_path, "--defense", "none")
    assert (config.transform, config.recipe) == (TrainConfig().transform, TrainConfig().recipe)
    assert config.agent.fixed_k() == 1 and config.transform.key is None and not config.recipe.sign_flip


def test_an_agent_named_on_top_learns_under_the_run_s_reward(tmp_path):
    config = _trained(tmp_path, "--defense", "hybrid1-flip", "--agent", "reinforce")
    assert (config.agent.name, config.agent.hyperparams) == ("reinforce", {})  # the fixed k is not its hyperparameter
    assert config.objective.reward == "constrained" and config.recipe.sign_flip


def test_a_defense_with_an_agent_brings_its_agent_and_reward(tmp_path):
    config = _trained(tmp_path, "--defense", "reinforce-loss")
    assert (config.agent.name, config.objective.reward, config.recipe.sign_flip) == ("reinforce", "loss", False)


@pytest.mark.parametrize("argv, message", [
    (["--defense", "hybrid1-flp"], "unknown defense 'hybrid1-flp' (--defense); choose one of: none, ppfr"),
    (["--defense", "hybrid1-flp"], "did you mean 'hybrid1-flip'"),
    (["--defense", "ppfr", "--config", "CONFIG"], "drop --defense"),
    (["--seed", "-2"], "--seed must be a non-negative integer, not -2"),
])
def test_bad_defenses_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.delenv("FREQMIX_DEBUG", raising=False)
    config = tmp_path / "config.json"
    config.write_text(TrainConfig.of(data="synthetic").to_json())
    out = tmp_path / "run"
    argv = [str(config) if arg == "CONFIG" else arg for arg in argv]
    assert main(["train", *TINY, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("freqmix: error: ") and "\n" not in err and message in err, err
    assert not out.exists()
