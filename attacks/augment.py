"""Random horizontal flips and small shifts of face batches: the augmentation every attack network trains with,
and what makes model-inversion images robust enough to transfer to an independent evaluator."""
from __future__ import annotations

import numpy as np
import torch

from attacks.protection import Protection
from mixup_env.masking import MixedBatch


def shift_flip(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) -> the same batch, each image flipped left-right with probability 1/2 and the whole batch
    rolled by one random shift of at most ``max_shift`` pixels in each direction. Differentiable."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    out = torch.where(flip.view(-1, 1, 1, 1).to(images.device), images.flip(3), images)
    if max_shift:
        dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
        out = torch.roll(out, (dy, dx), (2, 3))
    return out


def dominant_faces(images: torch.Tensor, partners: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(N, P, H, W) faces, (M, k) partner indices and (M, k) weights -> (M, P, H, W): each mix's largest-weight face,
    the target a reconstruction attack learns."""
    return images[partners[torch.arange(len(partners)), weights.argmax(dim=1)]]


def protected_training_batch(protection: Protection, faces: torch.Tensor, labels: torch.Tensor, batch_size: int,
                             max_shift: int, rng: np.random.Generator, generator: torch.Generator
                             ) -> tuple[MixedBatch, torch.Tensor]:
    """A fresh batch of the attacker's faces, augmented and protected under ``protection``: ``(mixed, target)``
    with target (N, P, H, W) the dominant face of each mix."""
    idx = torch.from_numpy(rng.choice(len(faces), size=min(batch_size, len(faces)), replace=False))
    batch = shift_flip(faces[idx], max_shift, generator)
    mixed = protection.protect(batch, labels[idx], rng)
    return mixed, dominant_faces(batch, mixed.partners, mixed.weights)
