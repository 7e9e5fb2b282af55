"""The analytic attack, which costs nothing: invert the pipeline the attacker believes in.

Every protected tensor is put back into its block-DCT slots as the attacker believes (inverse shuffle), the
channels the defense dropped are filled with the attacker's mean face (the mean block-DCT planes of its own faces:
the best guess of what is missing, a mid-grey-free DC for ``no-dc``), and the inverse block DCT gives an image.
On a pipeline without masking or mixing this is the identity; on a mix it gives the mix of the faces (the DCT is
linear). A white-box attacker inverts the truth, key included; a black-box attacker inverts its belief
(:func:`attacks.privacy.black_box_belief`).
The learned CGAN attack is a residual on top of this inverse (:mod:`attacks.networks`), so it starts from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attacks.networks import raw_coefficients
from attacks.protection import Protection
from mixup_env.frequency import LEVEL_SHIFT, block_idct, ycbcr_to_rgb


def coefficients_to_images(coeffs: torch.Tensor) -> torch.Tensor:
    """(N, P*64, h, w) raw block-DCT planes (level-shifted, YCbCr for colour) -> (N, P, 8h, 8w) images 0..255,
    not clipped: the inverse of :func:`attacks.networks.raw_coefficients`."""
    pixels = block_idct(coeffs) + LEVEL_SHIFT
    return ycbcr_to_rgb(pixels) if pixels.shape[1] == 3 else pixels


@dataclass
class AnalyticAttack:
    """The inverse of a believed pipeline.

    :param protection: what the attacker believes the defense does (the truth for a white-box attacker).
    :param fill: (P*64, h, w) raw block-DCT planes of the attacker's mean face; they stand in for dropped channels.
    """

    protection: Protection
    fill: torch.Tensor

    @classmethod
    def fit(cls, protection: Protection, faces: torch.Tensor) -> AnalyticAttack:
        """The attack under ``protection`` with the mean face of the attacker's own faces (N, P, H, W) 0..255."""
        return cls(protection, raw_coefficients(faces.float()).mean(dim=0))

    @property
    def kept_mask(self) -> torch.Tensor:
        """(P*64,) bool: the channels the believed pipeline keeps."""
        mask = torch.zeros(self.fill.shape[0], dtype=torch.bool)
        mask[self.protection.transform.kept] = True
        return mask

    def coefficients(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P*64, h, w) raw planes: kept channels in their believed slots,
        dropped ones from the mean face."""
        full = self.protection.scatter(tensors.float())
        keep = self.kept_mask.to(full.device).view(1, -1, 1, 1)
        return torch.where(keep, full, self.fill.to(full.device))

    @torch.no_grad()
    def reconstruct(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, 8h, 8w) faces, float32 clipped to 0..255."""
        return coefficients_to_images(self.coefficients(tensors)).clamp(0, 255)
