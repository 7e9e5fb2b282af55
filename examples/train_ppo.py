"""Train PPO with the RL-Zoo-style hyperparameters of agents/hyperparams_yaml/ppo.yml, then test the recognizer
it trained on held-out faces.

    python examples/train_ppo.py --data ../shared/data/orl --steps 300 --hp learning_rate=1e-3
"""
import argparse

import gymnasium as gym
import torch
from stable_baselines3 import PPO

import mixup_env  # noqa: F401  (registers the env ids)
from agents.hyperparams import load_hyperparams, parse_overrides
from agents.policies import split_policy_kwargs
from recognizer.accuracy import identification_accuracy

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="synthetic")
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--image-size", type=int, default=64)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="override ppo.yml")
args = parser.parse_args()
torch.set_num_threads(1)

env = gym.make("FreqMixUp-v0", data=args.data, image_size=args.image_size, total_steps=args.steps)
hyperparams = {**load_hyperparams("ppo", "FreqMixUp-v0"), **parse_overrides(args.hp)}
policy_kwargs = {**split_policy_kwargs(env), **hyperparams.pop("policy_kwargs", {})}
model = PPO(env=env, policy_kwargs=policy_kwargs, seed=args.seed, device="cpu", **hyperparams)
model.learn(total_timesteps=args.steps)  # rounded up to whole rollouts of n_steps

# The recognizer the game trained: identify held-out faces by their nearest training-identity centroid.
base = env.unwrapped
gallery = base.recognizer.embed(base.transform(base.train_data.images))
probe = base.recognizer.embed(base.transform(base.test_data.images))
accuracy = identification_accuracy(gallery, base.train_data.labels, probe, base.test_data.labels)
print(f"PPO: {model.num_timesteps} steps, held-out identification accuracy {accuracy:.3f}")
