"""agents.policies: the split features extractor (parts read separately, usable by every algorithm), action
probabilities, and saved models that reload in a fresh process and predict the same actions."""
import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.torch_layers import FlattenExtractor

from agents.policies import SplitObservationExtractor, action_probabilities, split_policy_kwargs
from agents.build import build_agent
from mixup_env.env import FreqMixUpEnv
from recognizer.data import synthetic_faces

TINY_HP = {"reinforce": {"n_steps": 4}, "ppo": {"n_steps": 4, "batch_size": 4, "n_epochs": 1},
           "a2c": {"n_steps": 4}, "dqn": {"learning_starts": 4, "batch_size": 4}}



@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)


def _env(faces, **kw):
    return FreqMixUpEnv(faces, batch_size=12, embedding_dim=32, steps_per_episode=4, **kw)


def test_extractor_encodes_the_two_parts_separately(faces):
    env = _env(faces)
    layout = env.layout
    extractor = SplitObservationExtractor(env.observation_space, state_dim=layout.state_dim, features_dim=16)
    obs = torch.rand(4, layout.size) * 5
    assert extractor(obs).shape == (4, 16)
    changed = obs.clone()
    changed[:, layout.state_dim] += 1.0  # one channel of the upcoming-batch part
    state_part = extractor.state_encoder(obs[:, : layout.state_dim])
    assert torch.equal(state_part, extractor.state_encoder(changed[:, : layout.state_dim]))
    assert not torch.allclose(extractor(obs), extractor(changed))
    extractor(obs).sum().backward()
    assert extractor.state_encoder[0].weight.grad.abs().sum() > 0
    assert extractor.batch_encoder[1].weight.grad.abs().sum() > 0


def test_extractor_rejects_a_split_that_leaves_a_part_empty(faces):
    space = _env(faces).observation_space
    for bad in (0, space.shape[0]):
        with pytest.raises(ValueError, match="state_dim"):
            SplitObservationExtractor(space, state_dim=bad)


def test_split_policy_kwargs_reads_the_layout_through_wrappers(faces):
    env = gym.wrappers.TimeLimit(_env(faces), 100)
    kwargs = split_policy_kwargs(env, features_dim=8)
    assert kwargs["features_extractor_class"] is SplitObservationExtractor
    assert kwargs["features_extractor_kwargs"] == {"state_dim": env.unwrapped.layout.state_dim, "features_dim": 8}


@pytest.mark.parametrize("name", ["reinforce", "ppo", "a2c", "dqn"])
def test_registry_puts_the_extractor_in_every_algorithm_and_it_learns(faces, name):
    model = build_agent(name, _env(faces), seed=0, hyperparams=TINY_HP[name], env_id="FreqMixUp-v0")
    extractors = [m for m in model.policy.modules() if isinstance(m, SplitObservationExtractor)]
    assert extractors and not any(isinstance(m, FlattenExtractor) for m in model.policy.modules())
    before = [p.detach().clone() for p in extractors[0].parameters()]
    model.learn(12)
    assert any(not torch.equal(b, p) for b, p in zip(before, extractors[0].parameters()))


def test_action_probabilities_of_categorical_and_epsilon_greedy_policies(faces):
    env = _env(faces, action="recipe")
    obs, _ = env.reset(seed=0)
    ppo = build_agent("ppo", env, seed=0, env_id="FreqMixUpRecipe-v0")
    probs = action_probabilities(ppo, obs)
    assert [len(p) for p in probs] == list(env.action_space.nvec)
    assert all(p.sum() == pytest.approx(1.0) and np.all(p > 0) for p in probs)
    env = _env(faces)
    dqn = build_agent("dqn", env, seed=0, env_id="FreqMixUp-v0")
    dqn.exploration_rate = 0.2
    (p,) = action_probabilities(dqn, env.reset(seed=0)[0])
    assert p.sum() == pytest.approx(1.0) and sorted(p)[-1] == pytest.approx(0.8 + 0.2 / 5)


RELOAD = """
import json, sys
import numpy as np
from agents.build import load_agent
obs = np.load(sys.argv[1])
print(json.dumps({name: load_agent(name, f"{sys.argv[2]}/{name}.zip").predict(obs, deterministic=True)[0].tolist()
                  for name in sys.argv[3:]}))
"""


def test_saved_models_reload_in_a_fresh_process_and_predict_the_same(faces, tmp_path):
    env = _env(faces)
    obs = np.stack([env.reset(seed=s)[0] for s in range(8)])
    np.save(tmp_path / "obs.npy", obs)
    expected = {}
    for name in TINY_HP:
        model = build_agent(name, env, seed=0, hyperparams=TINY_HP[name], env_id="FreqMixUp-v0").learn(12)
        model.save(tmp_path / f"{name}.zip")
        expected[name] = model.predict(obs, deterministic=True)[0].tolist()
    result = subprocess.run([sys.executable, "-c", RELOAD, str(tmp_path / "obs.npy"), str(tmp_path), *TINY_HP],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == expected
