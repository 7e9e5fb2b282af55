"""Train the paper's strategy network (REINFORCE) on FreqMixUp-v0 and see which k it learns to choose.

    python examples/train_reinforce.py --data ../shared/data/orl --steps 300
"""
import argparse

import gymnasium as gym
import torch

import mixup_env  # noqa: F401  (registers FreqMixUp-v0 and FreqMixUpRecipe-v0)
from agents import REINFORCE
from agents.policies import action_probabilities, split_policy_kwargs

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="synthetic", help="synthetic | PATH (one folder per identity)")
parser.add_argument("--steps", type=int, default=300, help="recognizer steps = env steps")
parser.add_argument("--image-size", type=int, default=64)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--save", default=None, help="where to save the agent (.zip)")
args = parser.parse_args()
torch.set_num_threads(1)  # small nets on a shared CPU: extra threads cost more than they save

# Every env step is one recognizer SGD step on a batch mixed with the chosen k; the reward is its loss.
env = gym.make("FreqMixUp-v0", data=args.data, image_size=args.image_size, total_steps=args.steps)

# One update every 4 steps; gamma 0: a k's reward is the loss of the batch it mixed; the running mean of
# returns is the baseline (it follows the falling loss); the entropy bonus keeps the other k tried.
model = REINFORCE("MlpPolicy", env, learning_rate=1e-3, n_steps=4, gamma=0.0, baseline="mean", ent_coef=0.01,
                  policy_kwargs=split_policy_kwargs(env, features_dim=32), seed=args.seed)
model.learn(total_timesteps=args.steps)

obs, _ = env.reset()
(probs,) = action_probabilities(model, obs)
k_choices = env.get_wrapper_attr("codec").k_choices
print("learned P(k):", "  ".join(f"k={k}: {p:.2f}" for k, p in zip(k_choices, probs)))
print(f"running-mean baseline (recent reward): {model.running_return:.3f}")
if args.save:
    model.save(args.save)
