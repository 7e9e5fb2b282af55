"""Random horizontal flips and small shifts of face batches: the augmentation every attack network trains with,
and what makes model-inversion images robust enough to transfer to an independent evaluator."""
from __future__ import annotations

import torch


def shift_flip(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) -> the same batch, each image flipped left-right with probability 1/2 and the whole batch
    rolled by one random shift of at most ``max_shift`` pixels in each direction. Differentiable."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    out = torch.where(flip.view(-1, 1, 1, 1).to(images.device), images.flip(3), images)
    if max_shift:
        dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
        out = torch.roll(out, (dy, dx), (2, 3))
    return out
