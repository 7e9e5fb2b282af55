"""Defender pretraining: a recognizer trained on public faces (identities disjoint from the private ones) through the
deployment's own mask, unmixed or mixed, whose backbone then starts the private run.

A real deployment does not start from random weights: it starts from a recognizer trained on public clean faces,
and only the private identities have to be protected. Training that start through the same mask (the same kept
channels and the same secret key) gives the backbone a stem that already reads the masked layout; the private run
then trains a fresh head and fine-tunes the backbone on mixes only. Measured on ORL's private identities with the
hybrid mask (docs/utility.md): see there for what it buys at k = 4 and 6.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from freqmix_base.errors import FreqmixError
from recognizer.augment import random_shift
from recognizer.faces import FaceDataset
from recognizer.config import RecognizerConfig
from recognizer.sampling import DEFAULT_SAMPLER, epoch_order
from recognizer.trainer import Recognizer

__all__ = ["pretrain_backbone"]


Mix = Callable[[torch.Tensor, torch.Tensor, np.random.Generator], tuple[torch.Tensor, torch.Tensor]]


def pretrain_backbone(public: FaceDataset, transform: Callable[[torch.Tensor], torch.Tensor],
                      config: RecognizerConfig, steps: int, batch_size: int = 32, max_shift: int = 0, seed: int = 0,
                      progress: bool = False, mix: Mix | None = None,
                      sampler: str = DEFAULT_SAMPLER) -> dict[str, torch.Tensor]:
    """Train a recognizer on ``public`` for ``steps`` SGD steps on a cosine schedule and return its backbone's
    ``state_dict`` (on the CPU), for :meth:`Recognizer.load_backbone`.

    :param public: the public faces ``(N, P, H, W)`` 0..255 with identity labels.
    :param transform: the deployment's mask, ``(B, P, H, W)`` float pixels -> ``(B, C, h, w)`` frequency tensors.
    :param config: the recognizer of the private run (backbone, input normalisation, lr...); the head is dropped.
    :param batch_size: faces per step (at most ``len(public)``), drawn epoch by epoch in the order of ``sampler``.
    :param max_shift: random translation of each face in pixels (as the private run's augmentation).
    :param seed: the recognizer's initial weights, the data order and the shifts.
    :param mix: ``(frequency batch (B, C, h, w), labels (B,), rng) -> (mixed batch, soft labels (B, K))``, applied
        after the mask (the private run's mixing, at a k of the caller's choice); None trains on the unmixed faces
        with one-hot labels.
    :param sampler: the order of each epoch (:mod:`recognizer.sampling`); public sets are often unbalanced.
    """
    if not 1 <= batch_size <= len(public):
        raise FreqmixError(f"pretraining needs a batch of 1 to {len(public)} public faces, not {batch_size}")
    if steps < 1:
        raise FreqmixError(f"pretraining needs at least one step, not {steps}")
    in_channels = transform(public.images[:1].float()).shape[1]
    recognizer = Recognizer.from_config(in_channels, public.num_identities, config, seed=seed, total_steps=steps)
    rng = np.random.default_rng(seed)
    one_hot = torch.eye(public.num_identities)
    labels = public.labels.numpy()
    order, cursor = epoch_order(sampler, labels, rng), 0
    for _ in tqdm(range(steps), desc="pretraining", unit="step", disable=not progress, leave=False):
        if cursor + batch_size > len(order):
            order, cursor = epoch_order(sampler, labels, rng), 0
        idx = torch.from_numpy(order[cursor:cursor + batch_size])
        cursor += batch_size
        x = transform(random_shift(public.images[idx], max_shift, rng))
        x, targets = (x, one_hot[public.labels[idx]]) if mix is None else mix(x, public.labels[idx], rng)
        loss = recognizer.train_step(x, targets)
        if not math.isfinite(loss):
            raise FreqmixError(f"pretraining stopped: non-finite loss ({loss}) at step {recognizer.step}; try a "
                               "lower --lr")
    return {name: value.detach().cpu().clone() for name, value in recognizer.backbone.state_dict().items()}
