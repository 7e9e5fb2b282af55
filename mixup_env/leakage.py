"""Per-batch leakage: how well an attack recovers the faces of one mixed batch.

The leakage of a mixed row is the SSIM (:mod:`mixup_env.ssim`) of the attack's reconstruction against the
best-matching face mixed into it, averaged over the batch (:class:`BatchLeakage`). The attack is any object with
``reconstruct(tensors) -> images``: by default the free analytic inverse of the env's own pipeline
(:class:`mixup_env.analytic_inverse.AnalyticInverse`, white-box: the key is known, the training faces' mean fills the
dropped channels), or a decoder trained before the run (``attacks.decoder.DecoderAttack``, which ``freqmix train
--privacy decoder-leakage`` trains on the attacker's faces).

The analytic inverse costs one inverse DCT and a few windowed means per step: ``freqmix bench``'s
``leakage_over_step`` puts a step that computes it at about 4.6 plain steps of the default small model at k = 6
(gray 112 px, one thread), so it is cheap next to a large backbone's step and dear next to the small one's.
"""
from __future__ import annotations

from typing import Protocol

import torch

from mixup_env.ssim import pairwise_ssim


class Reconstructor(Protocol):
    """A fitted reconstruction attack: turns protected tensors back into faces (``attacks`` builds them)."""

    def reconstruct(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, H, W) faces, float 0..255."""


class BatchLeakage:
    """The leakage an attack scores on a mixed batch.

    :param attack: what reconstructs the mixed tensors (the analytic inverse, a trained decoder).
    """

    def __init__(self, attack: Reconstructor) -> None:
        self.attack = attack

    @torch.no_grad()
    def best_component_ssim(self, tensors: torch.Tensor, faces: torch.Tensor, partners: torch.Tensor
                            ) -> torch.Tensor:
        """(N,) for each mixed row, the SSIM of its reconstruction against the best-matching face mixed into it.

        :param tensors: (N, C, h, w) mixed protected tensors.
        :param faces: (N, P, H, W) 0..255, the batch's faces as they were before the transform.
        :param partners: (N, k) indices into ``faces`` of the faces each row mixes (column 0 = the row itself).
        """
        images = self.attack.reconstruct(tensors.detach().cpu()).float()
        n, k = partners.shape
        rows = torch.arange(n).repeat_interleave(k)
        return pairwise_ssim(images, faces.cpu(), rows, partners.cpu().reshape(-1)).reshape(n, k).max(dim=1).values

    def leakage(self, tensors: torch.Tensor, faces: torch.Tensor, partners: torch.Tensor) -> float:
        """Mean best-component SSIM of the batch (1 = faces recovered exactly; lower = more private)."""
        return float(self.best_component_ssim(tensors, faces, partners).mean())
