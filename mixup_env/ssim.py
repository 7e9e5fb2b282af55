"""SSIM, the one implementation: the env's per-batch leakage, the attacks' figures and the decoder's loss.

scikit-image's ``structural_similarity(data_range=255, channel_axis=0)``: a 7×7 uniform window, sample covariance,
the mean over the window positions inside the image, colour planes averaged. Batched tensor code, differentiable,
in float64 when an input is float64 (then equal to scikit-image to about 1e-13) and float32 otherwise (to about
1e-5, what the per-step leakage signal and the decoder's loss need).
"""
from __future__ import annotations

import torch

from freqmix_base.errors import FreqmixError

SSIM_WINDOW = 7
DATA_RANGE = 255.0
_C1, _C2 = (0.01 * DATA_RANGE) ** 2, (0.03 * DATA_RANGE) ** 2
_COV_NORM = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)  # sample, not population, covariance (as scikit-image)


def window_mean(t: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., H − 6, W − 6): the mean of every 7×7 window inside the image.

    Sums of shifted slices, one axis after the other: exact to rounding, and about 4× faster on the CPU than
    ``avg_pool2d`` (ORL-sized batches: 34 against 155 ms; twice as fast with its backward pass)."""
    w = SSIM_WINDOW
    rows = t[..., : t.shape[-1] - w + 1].clone()
    for shift in range(1, w):
        rows += t[..., shift: t.shape[-1] - w + 1 + shift]
    both = rows[..., : rows.shape[-2] - w + 1, :].clone()
    for shift in range(1, w):
        both += rows[..., shift: rows.shape[-2] - w + 1 + shift, :]
    return both / (w * w)


def _check_pair(images: torch.Tensor, targets: torch.Tensor) -> torch.dtype:
    """The dtype the pair is compared in, after checking that both are (N, C, H, W) of one image shape."""
    if images.dim() != 4 or targets.dim() != 4 or images.shape[1:] != targets.shape[1:]:
        raise FreqmixError(f"ssim needs (N, C, H, W) tensors of one image shape, got {tuple(images.shape)} and "
                           f"{tuple(targets.shape)}")
    if min(images.shape[-2:]) < SSIM_WINDOW:
        raise FreqmixError(f"ssim needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels")
    return torch.float64 if torch.float64 in (images.dtype, targets.dtype) else torch.float32


def _ssim_of_moments(ux: torch.Tensor, uy: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor, xy: torch.Tensor
                     ) -> torch.Tensor:
    """(N,) SSIM from the window means of x, y, x², y² and xy, each (N, C, H − 6, W − 6)."""
    vx, vy, vxy = _COV_NORM * (xx - ux * ux), _COV_NORM * (yy - uy * uy), _COV_NORM * (xy - ux * uy)
    s = ((2 * ux * uy + _C1) * (2 * vxy + _C2)) / ((ux * ux + uy * uy + _C1) * (vx + vy + _C2))
    # Every channel has as many window positions, so the mean over all is the mean of the per-channel means.
    return s.mean(dim=(1, 2, 3))


def ssim(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N,) SSIM of each image (N, C, H, W) against its target, both 0..255 (see the module's docstring)."""
    dtype = _check_pair(images, targets)
    if images.shape != targets.shape:
        raise FreqmixError(f"ssim needs two (N, C, H, W) tensors of one shape, got {tuple(images.shape)} and "
                           f"{tuple(targets.shape)}")
    x, y = images.to(dtype), targets.to(dtype)
    return _ssim_of_moments(window_mean(x), window_mean(y), window_mean(x * x), window_mean(y * y),
                            window_mean(x * y))


def pairwise_ssim(images: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
                  ) -> torch.Tensor:
    """(M,) SSIM of ``images[rows[m]]`` against ``targets[cols[m]]`` (as :func:`ssim`), computing the window
    statistics of each image and target that a pair names once however many pairs it is in (only the cross term
    is per pair), and none for those no pair names.

    :param images: (N, C, H, W) 0..255.
    :param targets: (T, C, H, W) 0..255.
    :param rows: (M,) int64 indices into ``images``; ``cols``: (M,) int64 indices into ``targets``.
    """
    dtype = _check_pair(images, targets)
    named_rows, rows = rows.unique(return_inverse=True)
    named_cols, cols = cols.unique(return_inverse=True)
    x, y = images[named_rows].to(dtype), targets[named_cols].to(dtype)
    ux, uy = window_mean(x), window_mean(y)
    xx, yy = window_mean(x * x), window_mean(y * y)
    xy = window_mean(x[rows] * y[cols])
    return _ssim_of_moments(ux[rows], uy[cols], xx[rows], yy[cols], xy)
