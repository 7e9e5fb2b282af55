"""Exposure over training: an attacker who watches the whole run holds one protected encoding of each private face
per epoch, each mixed with other partners. If it can link the E encodings of a face, averaging their reconstructions
(by the strongest white-box reconstructor of the defense's tensors: the decoder, unless the analytic inverse is
already exact) keeps the face (weight E[w] in every encoding) while the partners, different each time, wash out to a
blur — the idea behind Carlini et al.'s attack on InstaHide. Leakage as a function of E is an upper bound on what
linking buys, since the links are given, not found.
"""
from __future__ import annotations

import numpy as np
import torch

from attacks.attack import Reconstructor
from attacks.protection import Protection
from freqmix_base.errors import FreqmixError

EXPOSURES = (1, 5, 20)  # linked encodings per face


def linked_inverses(truth: Protection, attack: Reconstructor, images: torch.Tensor, labels: torch.Tensor,
                    encodings: int, rng: np.random.Generator) -> torch.Tensor:
    """(N, P, H, W) private faces 0..255 -> (N, P, H, W) the mean of ``attack``'s reconstructions (0..255) of
    ``encodings`` independent protections of each face (fresh batches, partners and weights each time)."""
    if encodings < 1:
        raise FreqmixError(f"encodings must be >= 1, not {encodings}")
    total = None
    for _ in range(encodings):
        tensors, _, _ = truth.protect_all(images.float(), labels, rng)
        faces = attack.reconstruct(tensors)
        total = faces if total is None else total + faces
    return total / encodings
