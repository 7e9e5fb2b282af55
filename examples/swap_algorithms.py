"""Swap the recipe chooser by name: the same env, budget and seed for every algorithm of the registry.

    python examples/swap_algorithms.py --data ../shared/data/orl --steps 200 --agents reinforce,ppo,dqn,sac
"""
import argparse

import numpy as np
import torch

from agents.continuous import BoxRelaxation
from agents.build import build_agent
from agents.registry import AGENTS
from mixup_env.env import FreqMixUpEnv

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="synthetic")
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--image-size", type=int, default=64)
parser.add_argument("--agents", default="reinforce,ppo,a2c,dqn,sac,td3")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.set_num_threads(1)

for name in args.agents.split(","):
    env = FreqMixUpEnv(args.data, image_size=args.image_size, total_steps=args.steps)
    if AGENTS.get(name).box_actions:  # SAC/TD3 choose a point in [-1, 1]; the wrapper bins it into a k
        env = BoxRelaxation(env)
    # YAML hyperparameters for the env id, the split features extractor, the CPU, the seed: all by the registry.
    model = build_agent(name, env, seed=args.seed, env_id="FreqMixUp-v0")
    ks, rewards = [], []

    def record(local_vars: dict, _globals: dict) -> bool:  # SB3 calls a plain function after every env step
        ks.append(local_vars["infos"][0]["k"])
        rewards.append(float(local_vars["rewards"][0]))
        return True

    model.learn(total_timesteps=args.steps, callback=record)
    late = len(ks) // 4  # the last quarter: what the agent chooses once it has learned
    print(f"{name:>9}: mean reward {np.mean(rewards):.3f}  mean k {np.mean(ks):.2f}  "
          f"k over the last {late} steps {np.mean(ks[-late:]):.2f}")
