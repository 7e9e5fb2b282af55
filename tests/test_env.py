"""FreqMixUpEnv: both env checkers, the step contract, determinism, registration by string."""
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from agents.baselines import FixedK, RandomK
from mixup_env.env import INFO_KEYS, FreqMixUpEnv
from mixup_env.spaces import ActionError
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)


def _env(faces, **kw):
    options = dict(batch_size=12, embedding_dim=32, steps_per_episode=4)
    options.update(kw)
    return FreqMixUpEnv(faces, **options)


@pytest.mark.parametrize("action", ["k", "recipe"])
def test_env_passes_gymnasium_and_sb3_checkers(faces, action):
    gym_check_env(_env(faces, action=action), skip_render_check=True)
    sb3_check_env(_env(faces, action=action), warn=True)


def test_spaces_and_observation_layout(faces):
    env = _env(faces, channels="no-dc")
    assert env.action_space == gym.spaces.Discrete(5)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert env.layout.state_dim == 7 + 5 and env.layout.batch_dim == 63 + 1
    state, batch = env.layout.split(obs)
    assert state[0] == 0.0 and batch[-1] == pytest.approx(len(np.unique(env._y)) / 12)


def test_step_contract(faces):
    env = _env(faces)
    env.reset(seed=1)
    infos = []
    for t in range(4):
        obs, reward, terminated, truncated, info = env.step(t % 5)
        infos.append(info)
        assert not terminated and truncated == (t == 3)
        assert reward == pytest.approx(info["loss"]) and np.isfinite(reward)
        assert info["k"] == (2, 3, 4, 5, 6)[t % 5] and info["weights"].shape == (12, 6)
    assert all(tuple(i) == INFO_KEYS for i in infos)
    assert [i["step"] for i in infos] == [1, 2, 3, 4] and infos[-1]["evaluated"]


def test_reward_is_the_loss_of_the_mixed_batch_before_the_update(faces):
    env = _env(faces)
    env.reset(seed=2)
    x, y = env._x.clone(), env._y.clone()
    mix_rng_copy = np.random.default_rng()
    mix_rng_copy.bit_generator.state = env._mix_rng.bit_generator.state
    mixed = env.mixup(env.codec.decode(1), x, y, mix_rng_copy)
    expected = env.recognizer.loss(mixed.x, mixed.soft_labels)
    _, reward, *_ = env.step(1)
    # train_mode BatchNorm uses batch statistics, loss() uses running ones; equal up to that.
    assert reward == pytest.approx(expected, rel=0.2)


def test_same_seed_same_rewards_and_different_seed_differs(faces):
    def rollout(seed):
        env = _env(faces)
        env.reset(seed=seed)
        agent = RandomK(env.codec, seed=3)
        return [env.step(agent.predict(np.zeros(1))[0])[1] for _ in range(6)]

    assert rollout(0) == rollout(0)
    assert rollout(0) != rollout(1)


def test_recognizer_persists_across_episodes_unless_reset(faces):
    env = _env(faces)
    env.reset(seed=0)
    for _ in range(4):
        env.step(0)
    env.reset()
    assert env.recognizer.step == 4
    env.reset(options={"reset_recognizer": True})
    assert env.recognizer.step == 0


@pytest.mark.parametrize("bad", [5, -1, 2.5, "2", np.array([0, 1])])
def test_invalid_actions_give_a_clear_error(faces, bad):
    env = _env(faces)
    env.reset(seed=0)
    with pytest.raises(ActionError, match="action"):
        env.step(bad)


def test_step_before_reset_is_a_clear_error(faces):
    with pytest.raises(gym.error.ResetNeeded):
        _env(faces).step(0)


def test_non_finite_loss_terminates_with_error(faces, monkeypatch):
    env = _env(faces)
    env.reset(seed=0)
    monkeypatch.setattr(env.recognizer, "train_step", lambda x, y: float("nan"))
    obs, reward, terminated, truncated, info = env.step(0)
    assert terminated and not truncated and reward == 0.0 and "non-finite" in info["error"]
    assert np.all(np.isfinite(obs))


def test_utility_term_subtracts_shortfall(faces):
    env = _env(faces, utility_weight=2.0, accuracy_target=0.9, probe_every=1)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert info["cost"] == pytest.approx(max(0.0, 0.9 - info["accuracy"])) and info["lambda"] == 2.0
    assert reward == pytest.approx(info["loss"] - 2.0 * info["cost"])


def test_fixed_k_baseline_encodes_k_one_when_offered(faces):
    env = _env(faces, k_choices=(1, 2, 3))
    env.reset(seed=0)
    agent = FixedK(1, env.codec)
    _, _, _, _, info = env.step(agent.predict(np.zeros(3))[0])
    assert info["k"] == 1 and np.all(info["weights"][:, 0] == 1.0) and np.all(info["weights"][:, 1:] == 0.0)
    with pytest.raises(ActionError):
        FixedK(4, env.codec)


def test_make_by_string_in_a_fresh_process():
    code = ("import gymnasium as gym; env = gym.make('mixup_env:FreqMixUpRecipe-v0', image_size=32, batch_size=8, "
            "embedding_dim=16); obs, _ = env.reset(seed=0); print(env.action_space, obs.shape); "
            "env.step(env.action_space.sample())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "MultiDiscrete([5 5 2 4])" in result.stdout


def test_registration_is_idempotent():
    import mixup_env

    # Re-registering an id makes gymnasium warn "Overriding environment"; the guard must avoid that.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixup_env.register_envs()
        mixup_env.register_envs()
    assert gym.registry["FreqMixUp-v0"].entry_point == "mixup_env.env:FreqMixUpEnv"
    assert gym.registry["FreqMixUpRecipe-v0"].kwargs == {"action": "recipe"}


def test_every_epoch_trains_each_training_image_exactly_once():
    faces = synthetic_faces(num_identities=4, images_per_identity=6, image_size=16, seed=0)
    env = FreqMixUpEnv(faces, k_choices=(1,), batch_size=6, embedding_dim=8, augment_shift=0.0)  # 4 steps/epoch
    env.reset(seed=0)
    trained, train_step = [], env.recognizer.train_step
    env.recognizer.train_step = lambda x, soft: trained.append(x.clone()) or train_step(x, soft)
    epochs = []
    for _ in range(3):
        for _ in range(env.steps_per_episode):
            _, _, _, truncated, info = env.step(0)
            epochs.append(info["epoch"])
        assert truncated
        env.reset()
    assert epochs == [0] * 4 + [1] * 4 + [2] * 4
    every = env.transform(faces.images)
    for epoch in range(3):
        rows = torch.cat(trained[4 * epoch:4 * epoch + 4])  # k = 1 and no shift: the batch itself
        distance = (rows[:, None] - every[None]).flatten(2).abs().sum(-1)
        assert torch.all(distance.min(dim=1).values == 0)
        assert sorted(distance.argmin(dim=1).tolist()) == list(range(len(faces))), epoch
