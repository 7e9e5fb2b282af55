"""Use FreqMixUp from any code: make it by id, check it, drive it by hand, vectorize it for SB3.

    python examples/use_registered_env.py --data ../shared/data/orl
"""
import argparse

import gymnasium as gym
import torch
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env

from mixup_env.spaces import STATE_FIELDS

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="synthetic")
parser.add_argument("--steps", type=int, default=12)
parser.add_argument("--image-size", type=int, default=64)
args = parser.parse_args()
torch.set_num_threads(1)
options = dict(data=args.data, image_size=args.image_size, batch_size=16)

# "module:id" imports mixup_env, which registers the ids: works in any process, subprocess workers included.
env = gym.make("mixup_env:FreqMixUpRecipe-v0", **options)
check_env(env.unwrapped)  # SB3's checker: spaces, dtypes, reset/step contract
print("actions:", env.action_space, " observations:", env.observation_space.shape)
layout = env.unwrapped.layout  # where the training-state part ends and the upcoming-batch part begins
obs, _ = env.reset(seed=0)
for t in range(args.steps):
    # (k index, weight scheme, sign flip, drop level): mix more images as training goes on.
    action = [min(4, t * 5 // args.steps), 1, 0, 0]
    obs, reward, terminated, truncated, info = env.step(action)
    state, batch = layout.split(obs)
    print(f"step {info['step']:3d}  k={info['k']}  reward(loss)={reward:.3f}  lr={info['lr']:.4f}  "
          f"probe accuracy={state[STATE_FIELDS.index('probe_accuracy')]:.2f}  batch features={batch.shape[0]}")
    if terminated or truncated:
        obs, _ = env.reset()

# Two copies in one VecEnv, as SB3 algorithms take them; every copy trains its own recognizer.
vec_env = make_vec_env(lambda: gym.make("mixup_env:FreqMixUp-v0", **options), n_envs=2, seed=0)
print("vectorized:", vec_env.num_envs, "envs, observation batch", vec_env.reset().shape)
