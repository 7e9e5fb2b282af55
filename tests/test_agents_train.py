"""Learning agents in ``freqmix train``: every registered algorithm runs, saves and reports; seeds reproduce; the
Box relaxation, the YAML hyperparameters and their command-line overrides, and one-line errors."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.utils import LinearSchedule

from agents.build import build_agent, load_agent, resolve_hyperparams
from agents.continuous import BoxRelaxation
from agents.hyperparams import HYPERPARAMS_DIR, load_hyperparams, parse_overrides, parse_value, schedule
from agents.registry import AGENTS
from freqmix.cli import main
from freqmix_base.errors import FreqmixError
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.launch import run_training
from mixup_env import ENV_IDS
from mixup_env.env import FreqMixUpEnv
from recognizer.data import synthetic_faces

TINY = dict(data="synthetic", image_size=32, batch_size=12, embedding_dim=32, steps=10)
TINY_ARGS = ["--image-size", "32", "--batch-size", "12", "--embedding-dim", "32", "--steps", "10", "--no-progress"]
OFF_POLICY_HP = {"learning_starts": 4, "batch_size": 4}
TINY_HP = {"reinforce": {}, "ppo": {"n_steps": 4, "batch_size": 4}, "a2c": {}, "dqn": OFF_POLICY_HP,
           "sac": OFF_POLICY_HP, "td3": OFF_POLICY_HP}



@pytest.mark.parametrize("name", list(TINY_HP))
def test_every_learning_agent_trains_saves_and_reports(tmp_path, name):
    metrics = run_training(TrainConfig.of(agent=name, hyperparams=TINY_HP[name], **TINY), tmp_path, progress=False)
    assert metrics["steps"] == 10  # exactly the budget, though PPO's rollout (4) does not divide it
    assert 2 <= metrics["mean_k"] <= 6 and json.loads((tmp_path / "metrics.json").read_text()) == metrics
    distribution = metrics["action_distribution"]
    assert list(distribution["k"]) == ["2", "3", "4", "5", "6"] and sum(distribution["k"].values()) == pytest.approx(1)
    assert distribution["source"].startswith("empirical" if name in ("sac", "td3") else "policy")
    in_run = metrics["k_by_probe_accuracy"]
    assert sum(b["steps"] for b in in_run.values()) == 10
    assert sum(b["steps"] * b["mean_k"] for b in in_run.values()) == pytest.approx(10 * metrics["mean_k"])
    frozen = metrics.get("policy_k_by_probe_accuracy")
    assert (frozen is None) == (name in ("sac", "td3"))
    assert frozen is None or (list(frozen) == [f"{i / 10:.1f}" for i in range(11)]
                              and all(2 <= k <= 6 for k in frozen.values()))
    assert (tmp_path / "agent_logs" / "progress.csv").stat().st_size > 0
    if importlib.util.find_spec("tensorboard"):
        assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "agent_logs").iterdir())
    model = load_agent(name, tmp_path / "agent.zip")
    assert model.num_timesteps == 10 and model.device.type == "cpu"


def test_same_seed_same_run_for_a_learning_agent(tmp_path):
    def steps_csv(out, seed):
        run_training(TrainConfig.of(agent="reinforce", seed=seed, **TINY), out, progress=False)
        return (out / "steps.csv").read_text()

    first = steps_csv(tmp_path / "a", 0)
    assert first == steps_csv(tmp_path / "b", 0)
    assert first != steps_csv(tmp_path / "c", 1)


def test_recipe_env_reports_every_action_dimension(tmp_path):
    metrics = run_training(TrainConfig.of(agent="reinforce", env="FreqMixUpRecipe-v0", **TINY), tmp_path,
                           progress=False)
    distribution = metrics["action_distribution"]
    assert list(distribution)[1:] == ["k", "weights", "sign_flip", "drop"]
    assert list(distribution["sign_flip"]) == ["off", "on"]
    assert all(sum(p.values()) == pytest.approx(1) for key, p in distribution.items() if key != "source")


def test_cli_overrides_reach_the_agent(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--agent", "a2c", "--hp", "learning_rate=3e-4", "--hp", "n_steps=5",
                 "--hp", "policy_kwargs={net_arch: [8]}", *TINY_ARGS, "--out", str(out)]) == 0
    hyperparams = json.loads((out / "config.json").read_text())["agent"]["hyperparams"]
    assert hyperparams == {"learning_rate": 3e-4, "n_steps": 5, "policy_kwargs": {"net_arch": [8]}}
    model = load_agent("a2c", out / "agent.zip")
    assert model.n_steps == 5 and model.learning_rate == 3e-4 and model.policy.net_arch == [8]


def test_schedule_override_is_saved_as_text_and_applied(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--agent", "reinforce", "--hp", "learning_rate=lin_1e-2", *TINY_ARGS, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["agent"]["hyperparams"] == {"learning_rate": "lin_1e-2"}
    model = load_agent("reinforce", out / "agent.zip")
    assert model.lr_schedule(1.0) == pytest.approx(1e-2) and model.lr_schedule(0.5) == pytest.approx(5e-3)


@pytest.mark.parametrize("args, message", [
    (["--agent", "sarsa"], "unknown agent 'sarsa'"),
    (["--agent", "ppo", "--env", "CartPole-v1"], "unknown env 'CartPole-v1'"),
    (["--agent", "ppo", "--hp", "n_step=4"], "unknown hyperparameter 'n_step' for PPO"),
    (["--agent", "ppo", "--hp", "n_steps"], "is not KEY=VALUE"),
    (["--agent", "random", "--hp", "n_steps=4"], "unknown hyperparameter 'n_steps' for agent 'random'"),
    (["--agent", "dqn", "--env", "FreqMixUpRecipe-v0"], "no entry for env 'FreqMixUpRecipe-v0'"),
])
def test_bad_agent_input_is_one_line_error(tmp_path, capsys, args, message):
    assert main(["train", *args, *TINY_ARGS, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("freqmix: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x" / "config.json").exists()  # refused before any data was read


def test_bad_policy_kwargs_are_one_line_error(tmp_path, capsys):
    args = ["train", "--agent", "a2c", "--hp", "policy_kwargs={net_arch: [8], width: 3}", *TINY_ARGS]
    assert main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("freqmix: error: bad hyperparameters for A2C") and "width" in err and err.count("\n") == 1


def test_box_relaxation_bins_and_inverse():
    env = FreqMixUpEnv(synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0),
                       batch_size=12, embedding_dim=32, action="recipe")
    wrapped = BoxRelaxation(env)
    assert wrapped.action_space == spaces.Box(-1.0, 1.0, (4,), np.float32)
    assert wrapped.action(np.array([-1.0, -1.0, -1.0, -1.0])).tolist() == [0, 0, 0, 0]
    assert wrapped.action(np.array([1.0, 1.0, 1.0, 1.0])).tolist() == [4, 4, 1, 3]
    assert wrapped.action(np.array([5.0, -0.61, 0.01, -0.49])).tolist() == [4, 0, 1, 1]  # clipped; bin edges
    for index in np.ndindex(*env.action_space.nvec):
        assert wrapped.action(wrapped.relax(index)).tolist() == list(index)
    k_env = BoxRelaxation(FreqMixUpEnv(env.train_data, batch_size=12, embedding_dim=32))
    assert k_env.action(np.array([0.0])) == 2 and isinstance(k_env.action(np.array([0.0])), int)
    with pytest.raises(ValueError, match="Discrete or flat MultiDiscrete"):
        BoxRelaxation(k_env)


def test_box_agents_need_the_relaxation():
    env = FreqMixUpEnv(synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0),
                       batch_size=12, embedding_dim=32)
    with pytest.raises(ValueError, match="BoxRelaxation"):
        build_agent("sac", env, seed=0, env_id="FreqMixUp-v0")
    assert build_agent("sac", BoxRelaxation(env), seed=0, env_id="FreqMixUp-v0").action_space.shape == (1,)


@pytest.mark.parametrize("name", [name for name, entry in AGENTS.items() if entry.learns])
def test_shipped_yaml_files_are_valid_for_every_env_they_list(name):
    for env_id in ENV_IDS:
        if name == "dqn" and env_id == "FreqMixUpRecipe-v0":
            continue  # DQN acts in Discrete spaces only
        params = resolve_hyperparams(name, env_id)
        assert params["policy"] == "MlpPolicy" and params["gamma"] == 0.0
        assert params.get("n_steps", 1) * params.get("batch_size", 1) <= 256  # budgets of a few hundred steps


def test_yaml_anchors_coercion_and_schedules(tmp_path):
    (tmp_path / "algo.yml").write_text("A-v0: &d\n  learning_rate: 3e-4\n  n_steps: 16\n  clip_range: lin_0.2\n"
                                       "B-v0:\n  <<: *d\n  n_steps: 8\n")
    a, b = load_hyperparams("algo", "A-v0", tmp_path), load_hyperparams("algo", "B-v0", tmp_path)
    assert a["learning_rate"] == 3e-4 and a["n_steps"] == 16 and b["n_steps"] == 8
    assert a["clip_range"] == "lin_0.2"  # kept as text (config.json); a schedule once the algorithm is built
    assert isinstance(schedule(a["clip_range"]), LinearSchedule) and schedule("lin_0.2")(0.5) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="lin_X"):
        schedule("lin_fast")
    with pytest.raises(ValueError, match="no entry for env 'C-v0'; it has A-v0, B-v0"):
        load_hyperparams("algo", "C-v0", tmp_path)
    with pytest.raises(ValueError, match="no hyperparameter file"):
        load_hyperparams("nope", "A-v0", tmp_path)
    assert Path(HYPERPARAMS_DIR, "reinforce.yml").is_file()


@pytest.mark.parametrize("text, value", [("3e-4", 3e-4), ("16", 16), ("true", True), ("True", True),
                                         ("[64, 64]", [64, 64]), ("{net_arch: [32]}", {"net_arch": [32]}),
                                         ("mean", "mean"), ("1.0e-3", 1e-3)])
def test_command_line_values(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_parse_overrides():
    assert parse_overrides(["gamma=0.9", " ent_coef = 0.0 "]) == {"gamma": 0.9, "ent_coef": 0.0}
    for bad in ("gamma", "=1", "a b=1"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            parse_overrides([bad])


def test_non_learning_agents_have_nothing_to_load():
    with pytest.raises(ValueError, match="does not learn"):
        load_agent("fixed", "agent.zip")


@pytest.mark.data
def test_reinforce_learns_to_mix_more_on_orl(shared_data, tmp_path):
    # Under the paper's reward (the recognition loss) more mixing raises it, so the strategy network must move to
    # large k: the dominant arm that the constrained reward (the default) removes, see tests/test_rewards.py.
    # (Shift augmentation makes batch losses noisier: mean k passes 5.5 after ~200 steps, 5.9 after ~250.)
    config = TrainConfig.of(data=str(shared_data("orl")), agent="reinforce", image_size=32, steps=400, reward="loss")
    run_training(config, tmp_path, progress=False)
    with open(tmp_path / "steps.csv") as f:
        ks = [int(line.split(",")[2]) for line in f.readlines()[1:]]
    assert np.mean(ks[:50]) < 4.6 and np.mean(ks[-50:]) >= 5.5  # random k averages 4


def test_choosers_learn_like_sb3_algorithms_with_callbacks():
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.build import build_agent
    from mixup_env.env import FreqMixUpEnv
    from recognizer.data import synthetic_faces

    env = FreqMixUpEnv(synthetic_faces(num_identities=4, images_per_identity=6, image_size=16, seed=0),
                       batch_size=6, embedding_dim=8, backbone="small")  # 2 steps per episode
    seen = []

    class Record(BaseCallback):
        def _on_rollout_start(self) -> None:
            seen.append(("rollout", self.model.num_timesteps))

        def _on_step(self) -> bool:
            seen.append(("step", self.num_timesteps, self.locals["infos"][0]["step"]))
            return self.num_timesteps < 3

    agent = build_agent("random", env, seed=0)
    agent.learn(5, callback=Record())
    assert seen == [("rollout", 0), ("step", 1, 1), ("rollout", 1), ("step", 2, 2), ("rollout", 2), ("step", 3, 3)]
    assert agent.num_timesteps == 3
    agent.learn(2, callback=None, reset_num_timesteps=False)
    assert agent.num_timesteps == 5 and env.recognizer.step == 5


def test_one_registration_makes_an_algorithm_an_agent(tmp_path):
    # One register_sb3 line (a "module:attr" entry point) is all the code an algorithm needs: --agent's help lists
    # it without importing it, the builder imports it, and its YAML file is the one other thing to write.
    from agents.build import agent_spec
    from agents.registry import learns, register_sb3
    from freqmix.cli import command_parser
    from stable_baselines3 import A2C

    register_sb3("a2c-twin", "stable_baselines3:A2C")
    try:
        assert "a2c-twin" in command_parser("train").format_help() and learns("a2c-twin")
        assert agent_spec("a2c-twin").algorithm is A2C
        (tmp_path / "a2c-twin.yml").write_text("FreqMixUp-v0:\n  n_steps: 4\n")
        assert resolve_hyperparams("a2c-twin", "FreqMixUp-v0", folder=tmp_path) == {"n_steps": 4}
        env = FreqMixUpEnv(synthetic_faces(num_identities=4, images_per_identity=4, image_size=32), batch_size=8,
                           embedding_dim=16)
        with pytest.raises(FreqmixError, match="a2c-twin.yml; create it with an entry for FreqMixUp-v0"):
            build_agent("a2c-twin", env, seed=0, env_id="FreqMixUp-v0")
    finally:
        AGENTS.unregister("a2c-twin")
