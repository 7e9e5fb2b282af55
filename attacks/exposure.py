"""Exposure over training: an attacker who watches the whole run holds one protected encoding of each private face
per epoch, each mixed with other partners. If it can link the E encodings of a face, averaging their analytic
inverses keeps the face (weight E[w] in every encoding) while the partners, different each time, wash out to a
blur — the idea behind Carlini et al.'s attack on InstaHide. Leakage as a function of E is an upper bound on what
linking buys, since the links are given, not found.
"""
from __future__ import annotations

import numpy as np
import torch

from attacks.analytic import AnalyticAttack, coefficients_to_images
from attacks.protection import Protection
from freqmix_base.errors import FreqmixError

EXPOSURES = (1, 5, 20)  # linked encodings per face


def linked_inverses(truth: Protection, analytic: AnalyticAttack, images: torch.Tensor, labels: torch.Tensor,
                    encodings: int, rng: np.random.Generator) -> torch.Tensor:
    """(N, P, H, W) private faces 0..255 -> (N, P, H, W) the mean of the analytic inverses of ``encodings``
    independent protections of each face (fresh batches, partners and weights each time), clipped to 0..255."""
    if encodings < 1:
        raise FreqmixError(f"encodings must be >= 1, not {encodings}")
    total = None
    for _ in range(encodings):
        tensors, _, _ = truth.protect_all(images.float(), labels, rng)
        coeffs = analytic.coefficients(tensors)
        total = coeffs if total is None else total + coeffs
    # The inverse is linear, so the mean of the inverses is the inverse of the mean coefficients.
    return coefficients_to_images(total / encodings).clamp(0, 255)
