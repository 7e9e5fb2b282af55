"""The analytic inverse, the attack that costs nothing: invert the masking pipeline one believes in.

Every protected tensor's channels go back to their block-DCT slots (the inverse of the believed shuffle), the
channels the pipeline dropped are filled with a mean face's coefficients (the best guess of what is missing), and
the inverse block DCT gives an image. On a pipeline without masking or mixing this is the identity; on a mix it
gives the mix of the faces (the DCT is linear). The env's leakage signal inverts its own pipeline (white-box, its
training faces' mean); the privacy evaluation inverts the truth (white-box) or a recovered belief (black-box) with
the attacker's mean face, and its learned attacks are residuals on top of this inverse.
"""
from __future__ import annotations

import torch

from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform, coefficients_to_images, images_to_coefficients

FILL_CHUNK = 1024  # faces transformed at a time for the mean face: a whole training set's coefficients need not fit


class AnalyticInverse:
    """The inverse of one (believed) frequency transform.

    :param transform: the transform believed to have made the tensors (``upsample`` must be 1).
    :param fill: (P*64, h, w) every coefficient plane of a mean face; they stand in for the dropped channels.
    """

    def __init__(self, transform: FrequencyTransform, fill: torch.Tensor) -> None:
        if transform.upsample != 1:
            raise FreqmixError(f"the analytic inverse supports upsample=1 only, not {transform.upsample}")
        self.transform = transform
        self.fill = fill

    @classmethod
    def fit(cls, transform: FrequencyTransform, faces: torch.Tensor) -> AnalyticInverse:
        """The inverse of ``transform`` with the mean face of ``faces`` (N, P, H, W) 0..255 as the fill."""
        total = sum(images_to_coefficients(faces[i:i + FILL_CHUNK].float()).sum(dim=0)
                    for i in range(0, len(faces), FILL_CHUNK))
        return cls(transform, total / len(faces))

    @property
    def kept_mask(self) -> torch.Tensor:
        """(P*64,) bool: the channels the transform keeps."""
        mask = torch.zeros(self.fill.shape[0], dtype=torch.bool)
        mask[self.transform.kept] = True
        return mask

    def coefficients(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P*64, h, w) every plane: kept channels in their slots, dropped ones
        from the mean face."""
        fill = self.fill.to(tensors.device)
        full = fill.expand(len(tensors), *fill.shape).clone()
        full[:, self.transform.kept.to(tensors.device)] = tensors.float()
        return full

    @torch.no_grad()
    def reconstruct(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, 8h, 8w) faces, float32 clipped to 0..255."""
        return coefficients_to_images(self.coefficients(tensors)).clamp(0, 255)
