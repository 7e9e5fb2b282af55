"""agents.REINFORCE: it learns a known bandit (so does PPO), its returns, baselines, logging and save/load."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure

from agents import REINFORCE
from agents.reinforce import monte_carlo_returns

OBS = np.full(3, 0.5, dtype=np.float32)


class Bandit(gym.Env):
    """One-step episodes; action ``best`` pays 1 more than the others, plus Gaussian noise (std ``noise``).
    For MultiDiscrete, each dimension pays 1 for its best choice."""

    def __init__(self, space: spaces.Space, best, noise: float = 0.5) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (3,), np.float32)
        self.action_space = space
        self.best, self.noise = np.asarray(best), noise

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return OBS, {}

    def step(self, action):
        reward = float(np.sum(np.asarray(action) == self.best)) + self.noise * self.np_random.standard_normal()
        return OBS, reward, True, False, {}



def _share_of_best(model, best) -> float:
    actions, _ = model.predict(np.tile(OBS, (500, 1)), deterministic=False)
    return float(np.mean(np.all(actions.reshape(500, -1) == np.asarray(best).reshape(1, -1), axis=1)))


def test_reinforce_learns_the_better_arm():
    model = REINFORCE("MlpPolicy", Bandit(spaces.Discrete(5), best=3), learning_rate=3e-3, n_steps=16, seed=0)
    assert _share_of_best(model, 3) < 0.5  # it starts near uniform
    model.learn(2000)
    assert _share_of_best(model, 3) >= 0.9


def test_ppo_learns_the_better_arm():
    model = PPO("MlpPolicy", Bandit(spaces.Discrete(5), best=3), n_steps=64, batch_size=32, n_epochs=4,
                learning_rate=3e-3, seed=0, device="cpu")
    model.learn(2000)
    assert _share_of_best(model, 3) >= 0.9


def test_reinforce_learns_a_multidiscrete_bandit_with_a_value_baseline():
    model = REINFORCE("MlpPolicy", Bandit(spaces.MultiDiscrete([3, 2]), best=[2, 0]), learning_rate=3e-3,
                      n_steps=16, baseline="value", seed=0)
    model.learn(2000)
    assert _share_of_best(model, [2, 0]) >= 0.9


def test_monte_carlo_returns_cut_at_episode_starts_and_the_rollout_end():
    rewards = np.array([[1.0], [2.0], [4.0], [8.0]], dtype=np.float32)
    starts = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)  # episodes: steps 0-1 and 2-3(-...)
    returns = monte_carlo_returns(rewards, starts, gamma=0.5)
    assert returns[:, 0].tolist() == [1 + 0.5 * 2, 2, 4 + 0.5 * 8, 8]
    assert monte_carlo_returns(rewards, starts, gamma=0.0)[:, 0].tolist() == [1, 2, 4, 8]


def test_running_mean_baseline_follows_the_returns():
    model = REINFORCE("MlpPolicy", Bandit(spaces.Discrete(2), best=0, noise=0.0), n_steps=8, baseline_rate=0.5,
                      ent_coef=0.0, seed=0)
    model.learn(8)
    first = float(np.mean(model.rollout_buffer.rewards))
    assert model.running_return == pytest.approx(first)  # initialised from the first rollout
    model.learn(8, reset_num_timesteps=False)
    second = float(np.mean(model.rollout_buffer.rewards))
    assert model.running_return == pytest.approx(first + 0.5 * (second - first))


def test_learn_calls_callbacks_and_logs_its_update(tmp_path):
    class Count(BaseCallback):
        calls = 0

        def _on_step(self) -> bool:
            Count.calls += 1
            return True

    model = REINFORCE("MlpPolicy", Bandit(spaces.Discrete(2), best=0), n_steps=4, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(12, callback=Count())
    assert Count.calls == 12
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"train/policy_loss", "train/entropy", "train/baseline"} <= set(header)


def test_callback_returning_false_stops_learning_mid_rollout():
    model = REINFORCE("MlpPolicy", Bandit(spaces.Discrete(2), best=0), n_steps=16, seed=0)
    stop = type("Stop", (BaseCallback,), {"_on_step": lambda self: self.num_timesteps < 5})()
    model.learn(100, callback=stop)
    assert model.num_timesteps == 5 and model._n_updates == 0


def test_progress_bar_works_when_rich_is_installed():
    pytest.importorskip("rich")
    model = REINFORCE("MlpPolicy", Bandit(spaces.Discrete(2), best=0), n_steps=4, seed=0).learn(8, progress_bar=True)
    assert model.num_timesteps == 8 and model._n_updates == 2


def test_save_load_predicts_the_same(tmp_path):
    model = REINFORCE("MlpPolicy", Bandit(spaces.Discrete(5), best=3), n_steps=8, seed=0).learn(64)
    model.save(tmp_path / "agent.zip")
    loaded = REINFORCE.load(tmp_path / "agent.zip", device="cpu")
    obs = np.random.default_rng(0).uniform(0, 1, (20, 3)).astype(np.float32)
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert loaded.running_return == model.running_return and loaded.baseline == "mean"


def test_same_seed_same_actions():
    def actions(seed):
        model = REINFORCE("MlpPolicy", Bandit(spaces.Discrete(5), best=3), n_steps=8, seed=seed).learn(64)
        return model.predict(np.tile(OBS, (50, 1)))[0].tolist()

    assert actions(0) == actions(0)
    assert actions(0) != actions(1)


@pytest.mark.parametrize("kwargs, match", [({"baseline": "median"}, "baseline"), ({"baseline_rate": 0.0}, "rate"),
                                           ({"gamma": 1.5}, "gamma"), ({"n_steps": 0}, "n_steps")])
def test_bad_arguments_are_one_line_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        REINFORCE("MlpPolicy", Bandit(spaces.Discrete(2), best=0), **kwargs)


def test_box_actions_are_refused():
    env = Bandit(spaces.Box(-1.0, 1.0, (1,), np.float32), best=0)
    with pytest.raises(AssertionError, match="action"):  # SB3's own supported-space check
        REINFORCE("MlpPolicy", env)
