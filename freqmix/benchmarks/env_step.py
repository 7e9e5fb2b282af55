"""``env_step_over_plain``: ``FreqMixUpEnv.step`` ÷ a hand-written PyTorch training step doing the same work.

Both sides, per step, on the same data, batch size, recipe (k = 2, Dirichlet(1) weights: the default
``freqmix train``), transform and model (the plain side trains a copy of the env's recognizer, same weights):
mix the current batch (k-1 distinct partners per row, Dirichlet weights, weighted sum, soft labels), forward,
backward, SGD step, read the loss, then fetch the next batch, shift-augment it (the env's ``augment_shift`` in pixels) and
run its block DCT. The env also decodes the
action, backs up BatchNorm statistics (its NaN guard), builds the observation (channel energies of the next batch,
loss statistics) and the info dict: that is the overhead measured. The env runs one endless episode, so no
clean-probe evaluation happens; ``env_episodes_over_plain`` runs the env's default one-epoch episodes instead,
with the clean probe and ``reset()`` at every episode end, as ``freqmix train`` does.
"""
from __future__ import annotations

import numpy as np
import torch

from freqmix.benchmarks.timing import Ratio, interleaved, ratio
from mixup_env.env import FreqMixUpEnv
from mixup_env.recipe import Recipe
from recognizer.augment import random_shift
from recognizer.faces import FaceDataset
from recognizer.trainer import Recognizer

GOAL = "<= 1.05"
K = 2  # the default fixed agent's k
ENDLESS = 10**9  # steps per episode that never end within a benchmark


class PlainLoop:
    """The training loop a researcher would write by hand, on a copy of ``env``'s recognizer and transform.

    :param env: a reset :class:`FreqMixUpEnv`; its data, batch size, transform and current recognizer are used.
    :param k: images mixed per output (Dirichlet(1) weights).
    :param seed: seed of the loop's own data order and mixing draws.
    """

    def __init__(self, env: FreqMixUpEnv, k: int, seed: int) -> None:
        twin = Recognizer(**env.recognizer.config, device=env.recognizer.device)
        twin.load_state_dict(env.recognizer.state_dict())
        self.backbone, self.head, self.optimizer = twin.backbone.train(), twin.head.train(), twin.optimizer
        self.device = twin.device
        self.transform = env.transform
        self.images, self.labels = env.train_data.images, env.train_data.labels
        self.num_classes = env.train_data.num_identities
        self.batch_size, self.k, self.shift = env.batch_size, k, env.augment_shift
        self.rng = np.random.default_rng(seed)
        self.order, self.cursor = self.rng.permutation(len(self.labels)), 0
        self.x, self.y = self._next_batch()

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cursor + self.batch_size > len(self.order):
            self.order, self.cursor = self.rng.permutation(len(self.order)), 0
        idx = torch.from_numpy(self.order[self.cursor:self.cursor + self.batch_size])
        self.cursor += self.batch_size
        return self.transform(random_shift(self.images[idx], self.shift, self.rng)), self.labels[idx]

    def step(self) -> float:
        """One training step on the current batch, then the next batch's DCT; returns the loss."""
        n, k = self.batch_size, self.k
        keys = self.rng.random((n, n))
        np.fill_diagonal(keys, np.inf)  # a row never partners itself
        partners = torch.from_numpy(np.concatenate([np.arange(n)[:, None], np.argsort(keys, axis=1)[:, :k - 1]], 1))
        weights = torch.from_numpy(self.rng.dirichlet(np.ones(k), size=n)).float()
        mixed = self.x * weights[:, 0].view(-1, 1, 1, 1)  # column 0 is the row itself
        for j in range(1, k):
            mixed += self.x[partners[:, j]] * weights[:, j].view(-1, 1, 1, 1)
        soft = torch.zeros(n, self.num_classes).scatter_add_(1, self.y[partners], weights)
        loss = self.head(self.backbone(mixed.to(self.device)), soft.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = loss.item()
        self.optimizer.step()
        self.x, self.y = self._next_batch()
        return value


def measure(train: FaceDataset, batch_size: int, rounds: int, seed: int = 0) -> tuple[Ratio, Ratio]:
    """``(env_step_over_plain, env_episodes_over_plain)`` on the training faces ``train``."""
    endless = FreqMixUpEnv(train, batch_size=batch_size, steps_per_episode=ENDLESS)
    episodes = FreqMixUpEnv(train, batch_size=batch_size)
    endless.reset(seed=seed)
    episodes.reset(seed=seed)
    action = endless.codec.encode(Recipe(k=K))
    plain = PlainLoop(endless, K, seed)
    losses = {"env": [], "plain": []}

    def env_step() -> None:
        losses["env"].append(endless.step(action)[1])

    def plain_step() -> None:
        losses["plain"].append(plain.step())

    def episode_step() -> None:
        if episodes.step(action)[3]:
            episodes.reset()

    # Warm up (first calls allocate) for one whole episode, so that every round then holds one episode end.
    candidates = {"env": env_step, "plain": plain_step, "episodes": episode_step}
    calls = episodes.steps_per_episode
    for _ in range(calls):
        for fn in candidates.values():
            fn()
    timings = interleaved(candidates, rounds, calls)
    _, c, h, w = train.images.shape
    setting = (f"batch {batch_size} of {c}x{h}x{w} faces, {endless.transform.out_channels} channels, k={K}, "
               f"{endless.recognizer.config['backbone']} backbone")
    check = (f"mean loss env {np.mean(losses['env']):.3f}, plain {np.mean(losses['plain']):.3f} "
             f"(same model and recipe, own draws)")
    step = ratio(timings, "env", "plain", GOAL, f"env.step in one endless episode ÷ hand-written step; {setting}",
                 check)
    with_probe = ratio(timings, "episodes", "plain", "",
                       f"env.step with default one-epoch episodes ({calls} steps; clean probe of "
                       f"{min(episodes.probe_size, len(train))} images and reset() at each end) ÷ hand-written step; "
                       f"{setting}")
    return step, with_probe
