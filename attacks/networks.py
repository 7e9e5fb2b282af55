"""Small attack networks, cheap enough for a CPU.

Both reconstruction attacks see faces through an exact, invertible rearrangement standardised by clean faces
(:class:`StandardisedSpace`): the decoder's U-Net through 2×2 pixel cells (:class:`PixelGrid`), the CGAN through
the fixed, orthonormal 8×8 block DCT (:class:`CoefficientCodec`). The CGAN's generator predicts the 64 coefficient
planes per image plane (standardised by the statistics of clean faces) and the inverse block DCT turns them into an
image; its discriminator sees an image as its block-DCT planes. The DCT is an exact, invertible
space-to-depth, so nothing is lost, and every learned convolution runs on 14×14 maps for 112×112 faces. The
generator prior of model inversion works on faces at a quarter of the resolution (28×28 for 112×112), which is all
that inversion needs and keeps it cheap.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mixup_env.frequency import coefficients_to_images, images_to_coefficients


def _block(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    # GroupNorm, not BatchNorm: attack batches are small and inference sees single images.
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1),
                         nn.GroupNorm(min(8, out_ch), out_ch), nn.LeakyReLU(0.2))


class StandardisedSpace(nn.Module):
    """An exact, invertible rearrangement of images (N, P, H, W) 0..255 into planes (N, C, h, w), each plane
    standardised by its mean and spread over clean faces. Subclasses say what the rearrangement is.

    :param mean: (C,) mean of each plane over clean faces.
    :param std: (C,) its standard deviation.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float().view(1, -1, 1, 1))
        self.register_buffer("std", std.float().clamp_min(1e-3).view(1, -1, 1, 1))

    @staticmethod
    def rearrange(images: torch.Tensor) -> torch.Tensor:
        """(N, P, H, W) 0..255 -> (N, C, h, w) raw planes."""
        raise NotImplementedError

    @staticmethod
    def restore(planes: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) raw planes -> (N, P, H, W) images 0..255: the inverse of :meth:`rearrange`."""
        raise NotImplementedError

    @classmethod
    def fit(cls, images: torch.Tensor) -> StandardisedSpace:
        """Statistics from clean faces (N, P, H, W) 0..255."""
        planes = cls.rearrange(images.float())
        return cls(planes.mean(dim=(0, 2, 3)), planes.std(dim=(0, 2, 3)))

    @property
    def channels(self) -> int:
        """C, the number of planes."""
        return self.mean.shape[1]

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(N, P, H, W) 0..255 -> (N, C, h, w) standardised planes."""
        return (self.rearrange(images) - self.mean) / self.std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) standardised planes -> (N, P, H, W) images 0..255 (not clipped)."""
        return self.restore(z * self.std + self.mean)


class CoefficientCodec(StandardisedSpace):
    """Images <-> standardised block-DCT planes (N, P*64, H/8, W/8): coefficient (u, v) of every 8×8 block of plane
    p in plane p*64 + u*8 + v (level-shifted; YCbCr for colour)."""

    @staticmethod
    def rearrange(images: torch.Tensor) -> torch.Tensor:
        return images_to_coefficients(images)

    @staticmethod
    def restore(planes: torch.Tensor) -> torch.Tensor:
        return coefficients_to_images(planes)


class PixelGrid(StandardisedSpace):
    """Images <-> standardised 2×2 cells (N, P*4, H/2, W/2): pixel (2y + i, 2x + j) of plane p in plane
    p*4 + 2i + j at cell (y, x) (``pixel_unshuffle``)."""

    @staticmethod
    def rearrange(images: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(images, 2)

    @staticmethod
    def restore(planes: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(planes, 2)


class FrequencyUNet(nn.Module):
    """pix2pix-style U-Net generator: protected coefficient planes -> face image, as a residual on top of the
    analytic inverse (:mod:`mixup_env.analytic_inverse`).

    Three levels (h, h/2, h/4) with skip connections predict a correction of the standardised coefficients of the
    analytic inverse (kept channels as scattered, dropped ones from the attacker's mean face). The last layer starts
    at zero, so the untrained generator *is* the analytic attack and training can only add to what it costs nothing
    to know.

    :param in_channels: input planes (P*64, the attacker scatters the protected channels into their slots).
    :param codec: output coefficient statistics (from the attacker's clean faces).
    :param in_scale: (in_channels,) scale of each input plane (its std over the attacker's protected tensors).
    :param fill: (in_channels, h, w) raw planes of the attacker's mean face, standing in for dropped channels.
    :param kept_mask: (in_channels,) bool, the channels the attacker believes are kept.
    :param width: channels of the first level (doubled at each level down).
    """

    def __init__(self, in_channels: int, codec: CoefficientCodec, in_scale: torch.Tensor, fill: torch.Tensor,
                 kept_mask: torch.Tensor, width: int = 64) -> None:
        super().__init__()
        self.codec = codec
        self.register_buffer("in_scale", in_scale.float().clamp_min(1e-3).view(1, -1, 1, 1))
        self.register_buffer("fill", fill.float()[None])
        self.register_buffer("kept_mask", kept_mask.bool().view(1, -1, 1, 1))
        self.enc1 = nn.Sequential(_block(in_channels, width), _block(width, width))
        self.enc2 = nn.Sequential(_block(width, 2 * width, stride=2), _block(2 * width, 2 * width))
        self.bottom = nn.Sequential(_block(2 * width, 4 * width, stride=2), _block(4 * width, 4 * width))
        self.dec2 = _block(4 * width + 2 * width, 2 * width)
        self.dec1 = _block(2 * width + width, width)
        self.out = nn.Conv2d(width + in_channels, codec.channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, h, w) protected planes -> (N, P, 8h, 8w) images 0..255 (not clipped)."""
        analytic = (torch.where(self.kept_mask, x, self.fill) - self.codec.mean) / self.codec.std
        x = x / self.in_scale
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        b = self.bottom(e2)
        d2 = self.dec2(torch.cat([F.interpolate(b, size=e2.shape[2:]), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[2:]), e1], 1))
        return self.codec.decode(analytic + self.out(torch.cat([d1, x], 1)))


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: one real/fake logit per patch of 8×8-pixel blocks, given the protected tensor.

    The image enters as its standardised block-DCT planes (a fixed stride-8 first layer), concatenated with the
    condition; three 3×3 convolutions (one of stride 2) give each logit a receptive field of 7×7 blocks.

    :param codec: image coefficient statistics.
    :param cond_scale: (cond_channels,) scale of each condition plane.
    :param width: channels of the first layer.
    """

    def __init__(self, codec: CoefficientCodec, cond_scale: torch.Tensor, width: int = 64) -> None:
        super().__init__()
        self.codec = codec
        self.register_buffer("cond_scale", cond_scale.float().clamp_min(1e-3).view(1, -1, 1, 1))
        in_ch = codec.channels + len(cond_scale)
        self.net = nn.Sequential(nn.Conv2d(in_ch, width, 3, padding=1), nn.LeakyReLU(0.2),
                                 _block(width, 2 * width, stride=2), nn.Conv2d(2 * width, 1, 3, padding=1))

    def forward(self, images: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(N, P, H, W) images and (N, cond_channels, H/8, W/8) condition -> (N, 1, h', w') logits."""
        return self.net(torch.cat([self.codec.encode(images), cond / self.cond_scale], 1))


def coarse_size(size: tuple[int, int]) -> tuple[int, int]:
    """Side of the generator prior's images: a quarter of the face size (28×28 for 112×112)."""
    return max(1, size[0] // 4), max(1, size[1] // 4)


class LatentGenerator(nn.Module):
    """Decoder of the generator prior: latent code (N, latent_dim) -> face at a quarter of the resolution.

    A coarse face is all that model inversion needs (its smoothness is part of the prior) and it keeps the prior
    cheap to train; :meth:`full` brings it to the recognizer's size.

    :param latent_dim: size of the latent code.
    :param planes: image planes P.
    :param size: (H, W) of the faces.
    :param width: channels at the coarsest level (halved at each level up).
    """

    def __init__(self, latent_dim: int, planes: int, size: tuple[int, int], width: int = 64) -> None:
        super().__init__()
        self.size, self.out_size = size, coarse_size(size)
        self.mid = ((self.out_size[0] + 1) // 2, (self.out_size[1] + 1) // 2)
        self.start = ((self.mid[0] + 1) // 2, (self.mid[1] + 1) // 2)
        self.fc = nn.Linear(latent_dim, width * self.start[0] * self.start[1])
        self.up1 = _block(width, width // 2)
        self.up2 = _block(width // 2, width // 4)
        self.out = nn.Conv2d(width // 4, planes, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent_dim) -> (N, P, H/4, W/4) images 0..255."""
        x = self.fc(z).view(len(z), -1, *self.start)
        x = self.up1(F.interpolate(x, size=self.mid, mode="bilinear", align_corners=False))
        x = self.up2(F.interpolate(x, size=self.out_size, mode="bilinear", align_corners=False))
        return 255 * torch.sigmoid(self.out(x))

    def full(self, coarse: torch.Tensor) -> torch.Tensor:
        """(N, P, H/4, W/4) -> (N, P, H, W), bilinear."""
        return F.interpolate(coarse, size=self.size, mode="bilinear", align_corners=False)


def shrink(images: torch.Tensor) -> torch.Tensor:
    """(N, P, H, W) -> (N, P, H/4, W/4) by area averaging: faces at the generator prior's resolution."""
    return F.adaptive_avg_pool2d(images, coarse_size(tuple(images.shape[2:])))


class CoarseEncoder(nn.Module):
    """Encoder of the generator prior: coarse face (N, P, H/4, W/4) -> latent code.

    :param latent_dim: size of the latent code.
    :param planes: image planes P.
    :param width: channels after the second stride-2 convolution.
    """

    def __init__(self, latent_dim: int, planes: int, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(_block(planes, width // 2, stride=2), _block(width // 2, width, stride=2),
                                 nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * width, latent_dim))

    def forward(self, coarse: torch.Tensor) -> torch.Tensor:
        """(N, P, h, w) 0..255 -> (N, latent_dim)."""
        return self.net(coarse / 127.5 - 1)


class CoarseDiscriminator(nn.Module):
    """PatchGAN on coarse faces (N, P, H/4, W/4): the realism term of the generator prior.

    :param planes: image planes P.
    :param width: channels of the first layer.
    """

    def __init__(self, planes: int, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(planes, width, 3, padding=1), nn.LeakyReLU(0.2),
                                 _block(width, 2 * width, stride=2), nn.Conv2d(2 * width, 1, 3, padding=1))

    def forward(self, coarse: torch.Tensor) -> torch.Tensor:
        """(N, P, h, w) 0..255 -> (N, 1, h', w') logits."""
        return self.net(coarse / 127.5 - 1)
