"""How k depends on the state: the run's steps binned by probe accuracy, and the frozen policy's expected k as
its probe-accuracy feature alone changes (checked against hand-computed softmax values)."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.reinforce import REINFORCE
from freqmix.experiment.state_response import PROBE_GRID, k_by_probe_accuracy, policy_k_by_probe_accuracy
from mixup_env.spaces import STATE_FIELDS


class StateOnly(gym.Env):
    """Observations shaped like the training-state part of FreqMixUp's; one-step episodes, reward 0."""

    observation_space = spaces.Box(0.0, 1.0, shape=(len(STATE_FIELDS) + 3,), dtype=np.float32)
    action_space = spaces.Discrete(5)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, dtype=np.float32), 0.0, True, False, {}


def test_steps_are_binned_by_the_probe_accuracy_they_were_taken_at():
    rows = [{"k": 2, "accuracy": 0.0}, {"k": 4, "accuracy": 0.05}, {"k": 3, "accuracy": 0.85},
            {"k": 5, "accuracy": 0.8}, {"k": 6, "accuracy": 1.0}, {"k": 4, "accuracy": 0.95}]
    assert k_by_probe_accuracy(rows) == {"0.0-0.1": {"steps": 2, "mean_k": 3.0},
                                         "0.8-0.9": {"steps": 2, "mean_k": 4.0},
                                         "0.9-1.0": {"steps": 2, "mean_k": 5.0}}


def test_frozen_policy_response_is_its_expected_k_with_the_probe_accuracy_changed():
    size = len(STATE_FIELDS) + 3
    model = REINFORCE("MlpPolicy", StateOnly(), policy_kwargs={"net_arch": []}, seed=0)
    assert model.policy.action_net.in_features == size  # net_arch []: the action net reads the observation itself
    with torch.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.zero_()
        model.policy.action_net.weight[4, STATE_FIELDS.index("probe_accuracy")] = 3.0  # logit of k=6 = 3 × acc
    response = policy_k_by_probe_accuracy(model, [2, 3, 4, 5, 6], np.full(size, 0.5, dtype=np.float32))
    assert list(response) == [f"{a:.1f}" for a in PROBE_GRID]
    for accuracy in PROBE_GRID:
        e = np.exp(3.0 * accuracy)
        assert response[f"{accuracy:.1f}"] == pytest.approx((2 + 3 + 4 + 5 + 6 * e) / (4 + e), rel=1e-5)


def test_agents_without_a_policy_over_k_have_no_frozen_response():
    assert policy_k_by_probe_accuracy(object(), [2, 3], np.zeros(len(STATE_FIELDS) + 1, dtype=np.float32)) is None
