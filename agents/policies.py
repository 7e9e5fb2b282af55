"""Policy parts for FreqMixUp observations: a features extractor that reads the training state and the upcoming
batch separately, usable by REINFORCE, PPO, A2C, DQN, SAC and TD3 through ``policy_kwargs``.

The flat observation is ``[training state (state_dim) | upcoming batch (the rest)]`` (see
``mixup_env.spaces.ObservationLayout``). The two parts differ in kind and scale: a dozen progress and loss
statistics against ~64 per-channel log energies (values up to ~15) of the batch about to be mixed. Separate
encoders keep the small state part from being drowned by the wide batch part. A LayerNorm over the batch part
keeps its large log energies from saturating the encoder; it makes the encoder read the shape of the spectrum
(which channels carry energy relative to the others), not its overall level.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from freqmix_base.errors import FreqmixError


class SplitObservationExtractor(BaseFeaturesExtractor):
    """Encode the training-state part and the upcoming-batch part of a flat observation separately, then merge.

    ``(N, obs_dim) -> (N, features_dim)``: ``state = obs[:, :state_dim]`` -> Linear+Tanh (``state_hidden``);
    ``batch = obs[:, state_dim:]`` -> LayerNorm -> Linear+Tanh (``batch_hidden``); concatenated -> Linear+Tanh.

    :param observation_space: a flat ``Box`` observation space.
    :param state_dim: length of the training-state part (``env.get_wrapper_attr("layout").state_dim``).
    :param state_hidden: units of the state encoder.
    :param batch_hidden: units of the batch encoder.
    :param features_dim: units of the merged features handed to the policy and value heads.
    """

    def __init__(self, observation_space: spaces.Box, state_dim: int, state_hidden: int = 32,
                 batch_hidden: int = 32, features_dim: int = 64) -> None:
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise FreqmixError(f"SplitObservationExtractor needs a flat Box observation space, not {observation_space}")
        obs_dim = observation_space.shape[0]
        if not 0 < state_dim < obs_dim:
            raise FreqmixError(f"state_dim={state_dim} must leave both parts non-empty in a {obs_dim}-long observation")
        super().__init__(observation_space, features_dim)
        self.state_dim = state_dim
        self.state_encoder = torch.nn.Sequential(torch.nn.Linear(state_dim, state_hidden), torch.nn.Tanh())
        self.batch_encoder = torch.nn.Sequential(torch.nn.LayerNorm(obs_dim - state_dim),
                                                 torch.nn.Linear(obs_dim - state_dim, batch_hidden), torch.nn.Tanh())
        self.merge = torch.nn.Sequential(torch.nn.Linear(state_hidden + batch_hidden, features_dim), torch.nn.Tanh())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``(N, obs_dim) -> (N, features_dim)``."""
        state, batch = observations[:, : self.state_dim], observations[:, self.state_dim:]
        return self.merge(torch.cat([self.state_encoder(state), self.batch_encoder(batch)], dim=1))


def split_policy_kwargs(env: gym.Env, **extractor_kwargs: Any) -> dict[str, Any]:
    """``policy_kwargs`` that put :class:`SplitObservationExtractor` in front of any SB3 policy on ``env``.

    :param env: an env (possibly wrapped) that exposes ``layout`` (an ``ObservationLayout``), e.g. FreqMixUp.
    :param extractor_kwargs: overrides of the extractor's sizes (``state_hidden``, ``batch_hidden``, ...).
    """
    state_dim = env.get_wrapper_attr("layout").state_dim
    return {"features_extractor_class": SplitObservationExtractor,
            "features_extractor_kwargs": {"state_dim": int(state_dim), **extractor_kwargs}}


def action_probabilities(model: BaseAlgorithm, observation: np.ndarray) -> list[np.ndarray] | None:
    """The probability the model's exploring policy gives each choice of each action dimension at ``observation``.

    Categorical policies (REINFORCE, PPO, A2C) report their distribution; value-based ones with an
    ``exploration_rate`` (DQN, sb3-contrib's QRDQN) their epsilon-greedy one at the current exploration rate, around
    their greedy action. Returns one array per action dimension (one for ``Discrete``), or None when the
    policy is not over discrete choices (SAC/TD3 on the Box relaxation).

    :param model: a trained SB3 model.
    :param observation: one observation ``(obs_dim,)``.
    """
    space = model.action_space
    if not isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
        return None
    if hasattr(model, "exploration_rate"):  # epsilon-greedy on values: DQN, and sb3-contrib's QRDQN alike
        greedy = int(np.asarray(model.predict(observation, deterministic=True)[0]).reshape(-1)[0])
        n = int(space.n)
        probs = np.full(n, model.exploration_rate / n)
        probs[greedy] += 1.0 - model.exploration_rate
        return [probs]
    obs_tensor, _ = model.policy.obs_to_tensor(observation)
    with torch.no_grad():
        distribution = model.policy.get_distribution(obs_tensor).distribution
    parts = distribution if isinstance(distribution, list) else [distribution]
    return [part.probs[0].cpu().numpy().astype(np.float64) for part in parts]
