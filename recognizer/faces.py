"""Labelled face images and verification pairs (the containers every loader returns), and the checks they share.

Images are ``torch.uint8`` tensors ``(N, C, S, S)`` with ``C = 1`` (gray) or ``3`` (RGB) and ``S`` a multiple of 8
(the block DCT downstream works on 8×8 blocks). Bad input raises :class:`DataError` with a one-line message that
says what is wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from freqmix_base.errors import FreqmixError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".bmp"})
COLORS = ("auto", "gray", "rgb")


class DataError(FreqmixError):
    """Bad data or data arguments; the message is one line saying what is wrong and how to fix it."""


class UnusablePairsError(DataError):
    """A pairs file whose readable pairs are all same-person or all different-person: no verification threshold
    can be chosen from them."""


@dataclass
class FaceDataset:
    """Labelled face images.

    :param images: ``torch.uint8`` ``(N, C, H, W)``, pixel values 0..255, ``C`` = 1 (gray) or 3 (RGB).
    :param labels: ``torch.int64`` ``(N,)``, identity index 0..num_identities-1.
    :param names: identity name per label index.
    :param paths: source file per image (``""`` for generated or downloaded images).
    """

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]
    paths: list[str]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(
                f"FaceDataset.images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        n = self.images.shape[0]
        if self.labels.shape != (n,) or len(self.paths) != n:
            raise DataError(
                f"FaceDataset has {n} images but {tuple(self.labels.shape)} labels and {len(self.paths)} paths; "
                "give one label and one path per image"
            )

    @property
    def num_identities(self) -> int:
        return len(self.names)

    @property
    def image_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        """Image side ``W`` in pixels."""
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(uint8 (n, C, H, W), int64 (n,))``: the images and labels at ``indices`` (what the env's probe reads,
        from this set or from a streamed one alike)."""
        return self.images[indices], self.labels[indices]

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> FaceDataset:
        """The images at ``indices`` (integer positions or a boolean mask); names and labels are kept as they are."""
        idx = torch.as_tensor(np.asarray(indices))
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
        idx = idx.long().reshape(-1)
        return FaceDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            names=list(self.names),
            paths=[self.paths[i] for i in idx.tolist()],
        )

    def float_images(self) -> torch.Tensor:
        """``float32`` ``(N, C, H, W)``, values 0..255 (the convention every other package expects)."""
        return self.images.float()


@dataclass
class PairSet:
    """Verification pairs.

    :param images_a: ``torch.uint8`` ``(M, C, H, W)``, first image of each pair.
    :param images_b: ``torch.uint8`` ``(M, C, H, W)``, second image of each pair.
    :param same: ``torch.bool`` ``(M,)``, True when both images show the same person.
    :param fold: ``torch.int64`` ``(M,)``, cross-validation fold 0..9 of each pair.
    :param skipped: how many pairs of the source were dropped because an image was missing or unreadable.
    """

    images_a: torch.Tensor
    images_b: torch.Tensor
    same: torch.Tensor
    fold: torch.Tensor
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.same.shape[0])


def check_image_size(image_size: int) -> None:
    if not isinstance(image_size, (int, np.integer)) or image_size <= 0 or image_size % 8:
        raise DataError(
            f"image_size={image_size!r} is not a positive multiple of 8 (the block DCT works on 8×8 blocks); "
            "use e.g. 64, 96 or 112"
        )


def check_color(color: str) -> None:
    if color not in COLORS:
        raise DataError(f"color={color!r} is not one of {', '.join(map(repr, COLORS))}")
