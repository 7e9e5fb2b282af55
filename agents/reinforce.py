"""REINFORCE (Williams, 1992) with a baseline and an entropy bonus, as a Stable-Baselines3 on-policy algorithm.

The paper's strategy network: a policy over recipes trained by the likelihood-ratio gradient to maximise the
recognizer's loss. Built on SB3's ``OnPolicyAlgorithm``, so ``learn()`` (callbacks, logger, progress bar),
``predict()``, ``save()`` and ``load()`` behave as in PPO or A2C, and ``"MlpPolicy"`` works on any Discrete,
MultiDiscrete or MultiBinary env.

Update schedule: one gradient step every ``n_steps`` env steps, on those ``n_steps`` transitions. Per-episode
updates would be the textbook choice, but a FreqMixUp episode is an epoch (hundreds of batches on real data) and
every env step is a recognizer optimizer step, so per-episode updates leave a run of a few hundred steps with a
handful of policy updates; per-step updates have no batch to average the noisy batch losses over. A short
rollout (8-16 steps) gives dozens of updates per run, each over several recipes.

Returns are Monte-Carlo: ``G_t = r_t + gamma * G_{t+1}`` inside the episode, cut at the end of the rollout and
never bootstrapped from a value estimate (that would make it actor-critic); :class:`MonteCarloRolloutBuffer`
computes them, SB3's own ``collect_rollouts`` fills it. One exception is SB3's, kept as it is: at a time-limit
truncation (a FreqMixUp episode's end) ``collect_rollouts`` adds ``gamma * V(terminal observation)`` to that
step's reward; with ``gamma = 0`` (our default) it adds nothing. With ``gamma`` near 1, choose
``n_steps`` at least the episode length so that most returns are complete; with ``gamma = 0`` (our FreqMixUp
default: a recipe's reward is the loss of the batch it mixed) every return is exact.

Baseline (subtracted from the return; it reduces variance without biasing the gradient):
``"mean"`` an exponential running mean of returns (``baseline_rate`` = weight of each update's mean return), which
follows the recognizer's falling loss; ``"value"`` the policy's value head, regressed onto the returns, which can
also read the training state in the observation; ``"none"`` plain REINFORCE.
"""
from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from freqmix_base.errors import FreqmixError

BASELINES = ("mean", "value", "none")
SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")


def monte_carlo_returns(rewards: np.ndarray, episode_starts: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted returns of one rollout, cut at episode boundaries and at the rollout's end (no bootstrap).

    :param rewards: (n_steps, n_envs) rewards in time order.
    :param episode_starts: (n_steps, n_envs) 1.0 where a step is the first of an episode.
    :param gamma: discount factor in [0, 1].
    :return: (n_steps, n_envs) float32 returns.
    """
    returns = np.zeros_like(rewards, dtype=np.float32)
    following = np.zeros(rewards.shape[1], dtype=np.float32)
    for t in reversed(range(len(rewards))):
        continues = 1.0 - episode_starts[t + 1] if t + 1 < len(rewards) else 0.0
        following = rewards[t] + gamma * continues * following
        returns[t] = following
    return returns


class MonteCarloRolloutBuffer(RolloutBuffer):
    """SB3's rollout buffer with Monte-Carlo returns (:func:`monte_carlo_returns`) in place of GAE; the
    advantages are the returns themselves (REINFORCE subtracts its baseline in ``train()``)."""

    def compute_returns_and_advantage(self, last_values: torch.Tensor, dones: np.ndarray) -> None:
        """Fill ``returns`` and ``advantages`` from the rewards; ``last_values`` is ignored (no bootstrap)."""
        self.returns[:] = monte_carlo_returns(self.rewards, self.episode_starts, self.gamma)
        self.advantages[:] = self.returns


class REINFORCE(OnPolicyAlgorithm):
    """Monte-Carlo policy gradient with a baseline and an entropy bonus.

    :param policy: ``"MlpPolicy"`` or an ``ActorCriticPolicy`` subclass (its value head is used only by
        ``baseline="value"``).
    :param env: the env or its registered id.
    :param learning_rate: Adam learning rate (or a schedule of the remaining progress, 1 -> 0).
    :param n_steps: env steps per update, per env (the update schedule, see the module docstring).
    :param gamma: discount factor of the Monte-Carlo returns, in [0, 1].
    :param baseline: ``"mean"``, ``"value"`` or ``"none"``.
    :param baseline_rate: weight of each update's mean return in the running-mean baseline, in (0, 1].
    :param ent_coef: weight of the entropy bonus.
    :param vf_coef: weight of the value loss (``baseline="value"`` only).
    :param max_grad_norm: gradient-norm clip.
    :param normalize_advantage: scale advantages to unit standard deviation within each update.
    :param stats_window_size: episodes averaged by the rollout logs.
    :param tensorboard_log: TensorBoard log folder (None: none).
    :param policy_kwargs: extra policy arguments (e.g. ``agents.policies.split_policy_kwargs(env)``).
    :param verbose: 0 silent, 1 logs to stdout.
    :param seed: seed of the agent's generators (python, numpy, torch, action space) and of the env's first reset.
    :param device: torch device of the policy; the CPU suits these small networks.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": ActorCriticPolicy}

    def __init__(self, policy: str | type[ActorCriticPolicy], env: GymEnv | str,
                 learning_rate: float | Schedule = 1e-3, n_steps: int = 16, gamma: float = 0.99,
                 baseline: str = "mean", baseline_rate: float = 0.1, ent_coef: float = 0.01, vf_coef: float = 0.5,
                 max_grad_norm: float = 0.5, normalize_advantage: bool = False, stats_window_size: int = 100,
                 tensorboard_log: str | None = None, policy_kwargs: dict[str, Any] | None = None, verbose: int = 0,
                 seed: int | None = None, device: torch.device | str = "cpu", _init_setup_model: bool = True) -> None:
        if baseline not in BASELINES:
            raise FreqmixError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
        if not 0.0 < baseline_rate <= 1.0:
            raise FreqmixError(f"baseline_rate must be in (0, 1], not {baseline_rate}")
        if not 0.0 <= gamma <= 1.0:
            raise FreqmixError(f"gamma must be in [0, 1], not {gamma}")
        if n_steps < 1:
            raise FreqmixError(f"n_steps must be >= 1, not {n_steps}")
        super().__init__(policy, env, learning_rate=learning_rate, n_steps=n_steps, gamma=gamma, gae_lambda=1.0,
                         ent_coef=ent_coef, vf_coef=vf_coef, max_grad_norm=max_grad_norm, use_sde=False,
                         sde_sample_freq=-1, stats_window_size=stats_window_size, tensorboard_log=tensorboard_log,
                         policy_kwargs=policy_kwargs, verbose=verbose, seed=seed, device=device,
                         _init_setup_model=False, rollout_buffer_class=MonteCarloRolloutBuffer,
                         supported_action_spaces=(spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary))
        self.baseline = baseline
        self.baseline_rate = baseline_rate
        self.normalize_advantage = normalize_advantage
        self.running_return: float | None = None  # the "mean" baseline; None until the first update
        if _init_setup_model:
            self._setup_model()

    def train(self) -> None:
        """One gradient step on the last rollout: ``-(G - b) log pi(a|s) - ent_coef H [+ vf_coef (V - G)^2]``."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        data = next(self.rollout_buffer.get(batch_size=None))
        actions = data.actions.long().flatten() if isinstance(self.action_space, spaces.Discrete) else data.actions
        values, log_prob, entropy = self.policy.evaluate_actions(data.observations, actions)
        returns = data.returns

        value_loss = torch.zeros(())
        if self.baseline == "value":
            values = values.flatten()
            advantages = returns - values.detach()
            value_loss = torch.nn.functional.mse_loss(values, returns)
        elif self.baseline == "mean":
            # The baseline is the running mean *before* this rollout, so it does not depend on these actions.
            batch_mean = float(returns.mean())
            baseline = batch_mean if self.running_return is None else self.running_return
            advantages = returns - baseline
            self.running_return = baseline + self.baseline_rate * (batch_mean - baseline)
        else:
            advantages = returns
        if self.normalize_advantage and len(advantages) > 1:
            advantages = advantages / (advantages.std() + 1e-8)

        policy_loss = -(advantages * log_prob).mean()
        entropy_mean = entropy.mean() if entropy is not None else -log_prob.mean()
        loss = policy_loss - self.ent_coef * entropy_mean + self.vf_coef * value_loss
        self.policy.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.policy.optimizer.step()

        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy", entropy_mean.item())
        self.logger.record("train/mean_return", returns.mean().item())
        self.logger.record("train/advantage_std", advantages.std().item() if len(advantages) > 1 else 0.0)
        if self.baseline == "mean":
            self.logger.record("train/baseline", self.running_return)
        if self.baseline == "value":
            self.logger.record("train/value_loss", value_loss.item())

    def learn(self: SelfREINFORCE, total_timesteps: int, callback: MaybeCallback = None, log_interval: int = 1,
              tb_log_name: str = "REINFORCE", reset_num_timesteps: bool = True,
              progress_bar: bool = False) -> SelfREINFORCE:
        """Train for ``total_timesteps`` env steps (rounded up to whole rollouts unless a callback stops it).

        :param log_interval: dump the logs every this many updates.
        """
        return super().learn(total_timesteps=total_timesteps, callback=callback, log_interval=log_interval,
                             tb_log_name=tb_log_name, reset_num_timesteps=reset_num_timesteps,
                             progress_bar=progress_bar)
