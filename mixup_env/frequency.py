"""Images <-> 8×8 block-DCT channel tensors, channel selections and the keyed channel shuffle.

Layout: an image plane of H×W pixels becomes 64 channels of (H/8)×(W/8); channel ``p*64 + u*8 + v`` holds
DCT coefficient (u, v) of every 8×8 block of plane ``p`` (``u`` = vertical frequency, the row index inside the
block, exactly as ``cv2.dct`` returns a block). The DCT is JPEG's: orthonormal DCT-II after a level shift of 128,
colour images in YCbCr (BT.601 full range). All functions are batched tensor code with no loop over blocks.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from freqmix_base.errors import FreqmixError
from mixup_env.transform_config import DEFAULT_N_HIGH, SELECTIONS, ChannelSelection, TransformConfig

BLOCK = 8
COEFFS_PER_BLOCK = BLOCK * BLOCK
LEVEL_SHIFT = 128.0

# JPEG (JFIF) full-range BT.601 conversion; rows give Y, Cb, Cr from R, G, B.
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float64
)
_YCBCR_OFFSET = torch.tensor([0.0, 128.0, 128.0], dtype=torch.float64)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in 0..255 -> (N, 3, H, W) YCbCr in 0..255 (JPEG's conversion)."""
    m = _RGB_TO_YCBCR.to(x.dtype)
    return torch.einsum("ij,njhw->nihw", m, x) + _YCBCR_OFFSET.to(x.dtype).view(1, 3, 1, 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) YCbCr in 0..255 -> (N, 3, H, W) RGB in 0..255; the exact inverse of :func:`rgb_to_ycbcr`."""
    m = torch.linalg.inv(_RGB_TO_YCBCR).to(x.dtype)
    return torch.einsum("ij,njhw->nihw", m, x - _YCBCR_OFFSET.to(x.dtype).view(1, 3, 1, 1))


@lru_cache(maxsize=None)
def dct_matrix() -> torch.Tensor:
    """The orthonormal 8×8 DCT-II matrix ``C`` (float64), so that a block's coefficients are ``C @ X @ C.T``."""
    k = torch.arange(BLOCK, dtype=torch.float64)
    c = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / (2 * BLOCK))
    c[0] *= math.sqrt(1 / BLOCK)
    c[1:] *= math.sqrt(2 / BLOCK)
    return c


@lru_cache(maxsize=None)
def _dct_matrix_as(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return dct_matrix().to(dtype=dtype, device=device)


@lru_cache(maxsize=None)
def _basis(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Conv kernel (64, 1, 8, 8): kernel u*8+v is the outer product C[u] ⊗ C[v], so the transposed stride-8
    # convolution with the orthonormal basis is the exact inverse of the block DCT.
    c = dct_matrix()
    return torch.einsum("ua,vb->uvab", c, c).reshape(COEFFS_PER_BLOCK, 1, BLOCK, BLOCK).to(dtype=dtype, device=device)


def _check_blockable(h: int, w: int) -> None:
    if h % BLOCK or w % BLOCK or h == 0 or w == 0:
        raise FreqmixError(f"image size {h}×{w} is not a positive multiple of {BLOCK}; resize the images first")


def block_dct(x: torch.Tensor) -> torch.Tensor:
    """(N, P, H, W) -> (N, P*64, H/8, W/8): orthonormal DCT of every 8×8 block, coefficient (u, v) of plane p in
    channel p*64 + u*8 + v. No level shift here (see :class:`FrequencyTransform`). Integer input (uint8 images) is
    computed in float32, floating input in its own dtype.

    Two batched matrix products with the 8×8 DCT matrix ``C`` instead of a stride-8 convolution with the 64 basis
    images (a quarter of the multiplications, and no im2col): ``C @ rows`` for the vertical frequencies of every
    block of an image plane at once, then ``C @ rowᵀ`` for the horizontal ones, whose transposed operand also puts
    the block index last, as the layout wants. The only data movement is of whole image rows.
    """
    n, p, h, w = x.shape
    _check_blockable(h, w)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    hb, wb = h // BLOCK, w // BLOCK
    c = _dct_matrix_as(dtype, x.device)
    # (N*P, 8a, hb*W): row a of every block of a plane, block rows side by side; copy_ converts integer images
    # to floating point in the same pass.
    rows = torch.empty(n * p, BLOCK, hb, w, dtype=dtype, device=x.device)
    rows.copy_(x.reshape(n * p, hb, BLOCK, w).transpose(1, 2))
    vertical = torch.matmul(c, rows.view(n * p, BLOCK, hb * w))  # (N*P, 8u, hb*wb*8b)
    coeffs = torch.matmul(c, vertical.view(n * p * BLOCK, hb * wb, BLOCK).transpose(1, 2))  # (N*P*8u, 8v, hb*wb)
    return coeffs.view(n, p * COEFFS_PER_BLOCK, hb, wb)


def block_idct(coeffs: torch.Tensor) -> torch.Tensor:
    """(N, P*64, h, w) -> (N, P, 8h, 8w): the exact inverse of :func:`block_dct`."""
    n, c, h, w = coeffs.shape
    if c % COEFFS_PER_BLOCK:
        raise FreqmixError(f"{c} channels is not a multiple of {COEFFS_PER_BLOCK} (64 per image plane)")
    p = c // COEFFS_PER_BLOCK
    pixels = F.conv_transpose2d(coeffs.reshape(n * p, COEFFS_PER_BLOCK, h, w), _basis(coeffs.dtype, coeffs.device),
                                stride=BLOCK)
    return pixels.reshape(n, p, h * BLOCK, w * BLOCK)


def images_to_coefficients(images: torch.Tensor) -> torch.Tensor:
    """(N, P, H, W) 0..255 -> (N, P*64, H/8, W/8): every coefficient plane in natural order (colour in YCbCr, level
    shift 128), as the transform computes them before it selects and shuffles channels."""
    x = rgb_to_ycbcr(images) if images.shape[1] == 3 else images
    return block_dct(x - LEVEL_SHIFT)


def coefficients_to_images(coeffs: torch.Tensor) -> torch.Tensor:
    """(N, P*64, h, w) every coefficient plane -> (N, P, 8h, 8w) images 0..255, not clipped: the exact inverse of
    :func:`images_to_coefficients`."""
    pixels = block_idct(coeffs) + LEVEL_SHIFT
    return ycbcr_to_rgb(pixels) if pixels.shape[1] == 3 else pixels


@lru_cache(maxsize=16)
def bilinear_upsampling_matrix(n: int, factor: int) -> torch.Tensor:
    """The (factor·n, n) float64 matrix U of 1-D linear interpolation with aligned corners, as
    ``F.interpolate(..., scale_factor=factor, mode="bilinear", align_corners=True)`` applies it along one axis
    (TFace's DCTDP front end): output sample i sits at input position i·(n-1)/(factor·n-1)."""
    positions = torch.arange(factor * n, dtype=torch.float64) * ((n - 1) / max(factor * n - 1, 1))
    below = positions.floor().long().clamp(max=n - 1)
    above = (below + 1).clamp(max=n - 1)
    fraction = positions - below
    matrix = torch.zeros(factor * n, n, dtype=torch.float64)
    rows = torch.arange(factor * n)
    matrix.index_put_((rows, below), 1 - fraction, accumulate=True)
    matrix.index_put_((rows, above), fraction, accumulate=True)
    return matrix


@lru_cache(maxsize=16)
def bilinear_downsampling_matrix(n: int, factor: int) -> torch.Tensor:
    """The (n, factor·n) float64 least-squares inverse (pseudo-inverse) of :func:`bilinear_upsampling_matrix`: it
    undoes the upsampling exactly (U has full column rank) and, on a modified upsampled image, returns the image
    whose upsampling is closest to it."""
    return torch.linalg.pinv(bilinear_upsampling_matrix(n, factor))


def bilinear_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, factor·H, factor·W): TFace's bilinear upsampling with aligned corners."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=True)


def bilinear_downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, factor·H, factor·W) float64 -> (N, C, H, W): the least-squares inverse of :func:`bilinear_upsample`,
    applied along each axis."""
    rows = bilinear_downsampling_matrix(x.shape[-2] // factor, factor).to(x.device)
    cols = bilinear_downsampling_matrix(x.shape[-1] // factor, factor).to(x.device)
    return rows @ x @ cols.T


def zigzag_order() -> tuple[int, ...]:
    """The 64 in-plane channel indices (u*8+v) in JPEG zigzag order, lowest frequency (DC) first."""
    order = []
    for s in range(2 * BLOCK - 1):
        rows = range(max(0, s - BLOCK + 1), min(s, BLOCK - 1) + 1)
        # JPEG's zigzag walks down-left on odd diagonals and up-right on even ones.
        for u in (rows if s % 2 else reversed(rows)):
            order.append(u * BLOCK + (s - u))
    return tuple(order)


def select_channels(selection: ChannelSelection, planes: int, n_high: int = DEFAULT_N_HIGH) -> torch.Tensor:
    """Indices (int64, ascending) of the kept channels among ``planes*64``.

    :param selection: ``"all"``; ``"no-dc"`` (drop the DC channel of every plane, as DCTDP); ``"high"`` (keep the
        ``n_high`` highest-frequency channels of every plane in zigzag order, PPFR-FD-like); or explicit indices.
    :param planes: image planes (1 gray, 3 YCbCr).
    :param n_high: channels kept per plane by ``"high"`` (1..64).
    """
    total = planes * COEFFS_PER_BLOCK
    if isinstance(selection, str):
        if selection == "all":
            per_plane = list(range(COEFFS_PER_BLOCK))
        elif selection == "no-dc":
            per_plane = list(range(1, COEFFS_PER_BLOCK))
        elif selection == "high":
            if not 1 <= n_high <= COEFFS_PER_BLOCK:
                raise FreqmixError(f"n_high={n_high} must be between 1 and {COEFFS_PER_BLOCK}")
            per_plane = sorted(zigzag_order()[COEFFS_PER_BLOCK - n_high:])
        else:
            raise FreqmixError(f"unknown channel selection {selection!r}; choose one of {', '.join(SELECTIONS)} "
                               f"or give a list of channel indices")
        return torch.tensor([p * COEFFS_PER_BLOCK + c for p in range(planes) for c in per_plane], dtype=torch.long)
    indices = [int(i) for i in selection]
    if not indices:
        raise FreqmixError("the channel index list is empty; keep at least one channel")
    if len(set(indices)) != len(indices) or min(indices) < 0 or max(indices) >= total:
        raise FreqmixError(f"channel indices must be distinct and in 0..{total - 1} for {planes} plane(s)")
    return torch.tensor(sorted(indices), dtype=torch.long)


def key_permutation(n: int, key: int) -> torch.Tensor:
    """The secret channel permutation (int64, length n) that the integer ``key`` (>= 0) determines."""
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
        raise FreqmixError(f"the shuffle key must be a non-negative integer, not {key!r}")
    return torch.from_numpy(np.random.default_rng(key).permutation(n)).long()


class FrequencyTransform:
    """Configure once, call on batches: images (0..255) -> masked, optionally shuffled frequency channels.

    Steps: optional ×``upsample`` bilinear upsampling (TFace's DCTDP front end, ×8 there; nearest-neighbour ×8 would
    make every block constant and every AC coefficient ~0, leaving nothing to ``"no-dc"``), RGB -> YCbCr, level
    shift by 128, block DCT, keep ``selection``, then permute the kept channels with the secret ``key`` (if any).

    :param image_channels: 1 (gray) or 3 (RGB).
    :param selection: see :func:`select_channels`.
    :param n_high: channels per plane kept by ``"high"``.
    :param key: integer key of the channel shuffle; ``None`` keeps the natural order.
    :param upsample: integer factor applied before the DCT.
    """

    def __init__(self, image_channels: int, selection: ChannelSelection = "all", n_high: int = DEFAULT_N_HIGH,
                 key: int | None = None, upsample: int = 1) -> None:
        if image_channels not in (1, 3):
            raise FreqmixError(f"images must have 1 (gray) or 3 (RGB) channels, not {image_channels}")
        if int(upsample) != upsample or upsample < 1:
            raise FreqmixError(f"upsample must be a positive integer, not {upsample}")
        self.image_channels = image_channels
        self.upsample = int(upsample)
        self.key = key
        selected = select_channels(selection, image_channels, n_high)
        self.kept = selected if key is None else selected[key_permutation(len(selected), key)]
        # Every channel in natural order (the default) needs no gather, which would copy the whole output again.
        self._all_in_order = torch.equal(self.kept, torch.arange(image_channels * COEFFS_PER_BLOCK))

    @classmethod
    def from_kept(cls, image_channels: int, kept: Sequence[int]) -> FrequencyTransform:
        """The transform that outputs exactly the channels ``kept`` (distinct indices among ``image_channels*64``)
        in the order given: any channel set and order, e.g. one an attacker recovered, which no (selection, key)
        pair need express."""
        transform = cls(image_channels, selection=kept)
        transform.kept = torch.tensor([int(i) for i in kept], dtype=torch.long)
        transform._all_in_order = torch.equal(transform.kept, torch.arange(image_channels * COEFFS_PER_BLOCK))
        return transform

    @classmethod
    def from_config(cls, image_channels: int, config: TransformConfig) -> FrequencyTransform:
        """The transform ``config`` describes for images of ``image_channels`` (1 gray, 3 RGB) channels."""
        return cls(image_channels, config.channels, config.n_high, config.key, config.upsample)

    @property
    def out_channels(self) -> int:
        """Number of channels the transform outputs."""
        return len(self.kept)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) 0..255 -> (N, out_channels, H*s/8, W*s/8), float32 (float64 if given float64)."""
        if images.dim() != 4 or images.shape[1] != self.image_channels:
            raise FreqmixError(f"expected images of shape (N, {self.image_channels}, H, W), got {tuple(images.shape)}")
        dtype = torch.float64 if images.dtype == torch.float64 else torch.float32
        # Integer (uint8) images go to block_dct as they are: it converts after moving them, which is cheaper.
        x = images if not images.is_floating_point() else images.to(dtype)
        if self.upsample > 1:
            x = bilinear_upsample(x.to(dtype), self.upsample)
        if self.image_channels == 3:
            # Colour is converted in floating point anyway; centring before the DCT keeps float32 coefficients of
            # the (non-integer) YCbCr planes within the 1e-4 round trip.
            coeffs = images_to_coefficients(x.to(dtype))
        else:
            # The level shift, folded in: shifting a block by s changes only its DC coefficient, by 8·s. A strided
            # pass over 1/64 of the output instead of a pass over every pixel.
            coeffs = block_dct(x)
            coeffs[:, ::COEFFS_PER_BLOCK] -= BLOCK * LEVEL_SHIFT
        return coeffs if self._all_in_order else coeffs.index_select(1, self.kept.to(coeffs.device))

    def inverse(self, coeffs: torch.Tensor) -> torch.Tensor:
        """(N, out_channels, h, w) -> (N, C, 8h/s, 8w/s) images 0..255 (not clipped), in the dtype of ``coeffs``;
        dropped channels count as 0, and upsampled images go back to their size by the least-squares inverse of the
        upsampling (exact when no channel was dropped). Computed in float64 (it is off the training path) so float32
        round trips stay within 1e-4 (2e-4 with ``upsample``)."""
        n, c, h, w = coeffs.shape
        if c != self.out_channels:
            raise FreqmixError(f"expected {self.out_channels} frequency channels, got {c}")
        full = coeffs.new_zeros(n, self.image_channels * COEFFS_PER_BLOCK, h, w, dtype=torch.float64)
        full[:, self.kept.to(coeffs.device)] = coeffs.double()
        x = coefficients_to_images(full)
        if self.upsample > 1:
            x = bilinear_downsample(x, self.upsample)
        return x.to(coeffs.dtype)
