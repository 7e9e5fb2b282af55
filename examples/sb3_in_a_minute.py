"""The README's "Use the environment from your own code": Stable-Baselines3's PPO on the small preset env, under a
minute on one CPU core.

    python examples/sb3_in_a_minute.py
"""
import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.monitor import Monitor

from freqmix_base.threads import choose_threads

torch.set_num_threads(choose_threads())  # the cores nobody else is using: one thread on a busy machine
env = Monitor(gym.make("mixup_env:FreqMixUp-Tiny-v0"))  # synthetic faces, 32×32: 6 recognizer steps an episode
episode = env.spec.max_episode_steps
# SB3's default n_steps=2048 collects 2,048 recognizer steps before its first update: fit rollouts to episodes.
# gamma=0: a step's reward scores that step's recipe alone (docs/agents.md).
model = PPO("MlpPolicy", env, n_steps=2 * episode, batch_size=episode, gamma=0.0, seed=0)
model.learn(total_timesteps=20 * episode)
print(f"PPO: {model.num_timesteps} recognizer steps, episode returns {[round(r, 1) for r in env.get_episode_rewards()]}")
