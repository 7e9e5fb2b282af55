"""Per-batch leakage: how well an attack recovers the faces of one mixed batch.

The leakage of a mixed row is the SSIM of the attack's reconstruction against the best-matching face mixed into it
(scikit-image's SSIM: 7×7 uniform window, sample covariance), averaged over the batch (:class:`BatchLeakage`). The
attack is any object with ``reconstruct(tensors) -> images``: by default the free analytic inverse below, or a
decoder trained before the run (``attacks.decoder.DecoderAttack``, which ``freqmix train --privacy
decoder-leakage`` trains on the attacker's faces).

The analytic inverse is the inverse of the true pipeline (white-box: the key is known): kept channels go back to
their block-DCT slots, dropped ones are filled with the mean face's coefficients, and the inverse DCT gives an image;
on a mix it gives the mix of the faces (the DCT is linear). It costs one inverse DCT and a few windowed means per
step: ``freqmix bench``'s ``leakage_over_step`` puts a step that computes it at about 4.6 plain steps of the
default small model at k = 6 (gray 112 px, one thread), so it is cheap next to a large backbone's step and dear next
to the small one's. ``attacks.analytic`` is the same attack for the privacy evaluation; this module does not import
``attacks`` (the arrows point the other way).
"""
from __future__ import annotations

from typing import Protocol

import torch

from freqmix_base.errors import FreqmixError
from mixup_env.frequency import LEVEL_SHIFT, FrequencyTransform, block_idct, ycbcr_to_rgb

SSIM_WINDOW = 7
DATA_RANGE = 255.0
_K1, _K2 = 0.01, 0.03


def _window_mean(t: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., H − 6, W − 6): the mean of every 7×7 window inside the image.

    Sums of shifted slices, one axis after the other: exact to float32 rounding, and about 4× faster on the CPU
    than ``avg_pool2d`` (ORL-sized batches: 34 against 155 ms), which made the signal cost 15 env steps."""
    w = SSIM_WINDOW
    rows = t[..., : t.shape[-1] - w + 1].clone()
    for shift in range(1, w):
        rows += t[..., shift: t.shape[-1] - w + 1 + shift]
    both = rows[..., : rows.shape[-2] - w + 1, :].clone()
    for shift in range(1, w):
        both += rows[..., shift: rows.shape[-2] - w + 1 + shift, :]
    return both / (w * w)


def _check_pair(images: torch.Tensor, targets: torch.Tensor) -> None:
    if images.dim() != 4 or targets.dim() != 4 or images.shape[1:] != targets.shape[1:]:
        raise FreqmixError(f"ssim needs (N, C, H, W) tensors of one image shape, got {tuple(images.shape)} and "
                           f"{tuple(targets.shape)}")
    if min(images.shape[-2:]) < SSIM_WINDOW:
        raise FreqmixError(f"ssim needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels")


def pairwise_ssim(images: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
                  ) -> torch.Tensor:
    """(M,) SSIM of ``images[rows[m]]`` against ``targets[cols[m]]`` (as :func:`ssim`), computing each image's
    and each target's window statistics once however many pairs it is in (only the cross term is per pair).

    :param images: (N, C, H, W) 0..255.
    :param targets: (T, C, H, W) 0..255.
    :param rows: (M,) int64 indices into ``images``; ``cols``: (M,) int64 indices into ``targets``.
    """
    _check_pair(images, targets)
    x, y = images.float(), targets.float()
    ux, uy = _window_mean(x), _window_mean(y)
    xx, yy = _window_mean(x * x), _window_mean(y * y)
    xy = _window_mean(x[rows] * y[cols])
    ux, xx, uy, yy = ux[rows], xx[rows], uy[cols], yy[cols]
    cov_norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)
    vx, vy, vxy = cov_norm * (xx - ux * ux), cov_norm * (yy - uy * uy), cov_norm * (xy - ux * uy)
    c1, c2 = (_K1 * DATA_RANGE) ** 2, (_K2 * DATA_RANGE) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    # Every channel has as many window positions, so the mean over all is the mean of the per-channel means.
    return s.mean(dim=(1, 2, 3))


def ssim(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N,) SSIM of each image (N, C, H, W) against its target, both 0..255, equal to scikit-image's
    ``structural_similarity(data_range=255, channel_axis=0)`` (7×7 uniform window, sample covariance, the mean over
    the window positions inside the image, colour channels averaged), to float32 precision."""
    if images.shape != targets.shape:
        raise FreqmixError(f"ssim needs two (N, C, H, W) tensors of one shape, got {tuple(images.shape)} and "
                           f"{tuple(targets.shape)}")
    index = torch.arange(len(images))
    return pairwise_ssim(images, targets, index, index)


class Reconstructor(Protocol):
    """A fitted reconstruction attack: turns protected tensors back into faces (``attacks`` builds them)."""

    def reconstruct(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, H, W) faces, float 0..255."""


class AnalyticInverse:
    """The free white-box analytic inverse of one env's pipeline.

    :param transform: the env's frequency transform (``upsample`` must be 1).
    :param faces: (N, P, H, W) 0..255 faces whose mean coefficients fill the dropped channels (the env's training
        faces: the defender's best stand-in for an attacker's mean face).
    """

    def __init__(self, transform: FrequencyTransform, faces: torch.Tensor) -> None:
        if transform.upsample != 1:
            raise FreqmixError(f"the leakage signal supports upsample=1 only, not {transform.upsample}")
        self.transform = transform
        everything = FrequencyTransform(transform.image_channels)
        # Summed in chunks: the coefficients of a whole training set would be as large as its float images.
        self.fill = sum(everything(faces[i:i + 256].float()).sum(dim=0) for i in range(0, len(faces), 256)
                        ) / len(faces)

    def reconstruct(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, 8h, 8w) images, float32 clipped to 0..255."""
        full = self.fill.expand(len(tensors), *self.fill.shape).clone()
        full[:, self.transform.kept] = tensors.float()
        pixels = block_idct(full) + LEVEL_SHIFT
        if self.transform.image_channels == 3:
            pixels = ycbcr_to_rgb(pixels)
        return pixels.clamp(0, 255)


class BatchLeakage:
    """The leakage an attack scores on a mixed batch.

    :param attack: what reconstructs the mixed tensors (:class:`AnalyticInverse`, a trained decoder).
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
