"""Reconstruction attack: a pix2pix-style conditional GAN from protected frequency tensors back to face images.

The attacker protects its own faces (identities disjoint from the private ones) the way it believes the defense
does (:class:`attacks.protection.Protection`: the truth for a white-box attacker, a guess for a black-box one),
trains a U-Net generator with L1 + adversarial loss against a PatchGAN discriminator to turn them back into the
faces (the dominant, largest-weight component of a mix), then applies it to the private protected tensors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from attacks.augment import shift_flip
from attacks.networks import CoefficientCodec, FrequencyUNet, PatchDiscriminator
from attacks.protection import Protection

L1_WEIGHT = 100.0  # pix2pix's λ (its L1 is on images in [-1, 1]; ours on [0, 1], the same ratio up to 2)
LEARNING_RATE = 2e-4
BETAS = (0.5, 0.999)
MAX_SHIFT = 4  # pixels of augmentation of the attacker's faces


@dataclass
class ReconstructionAttack:
    """A trained generator and the belief it was trained under.

    :param protection: how the attacker believes tensors were protected (it scatters channels accordingly).
    :param generator: protected planes (N, P*64, h, w) -> images (N, P, H, W).
    """

    protection: Protection
    generator: FrequencyUNet

    @torch.no_grad()
    def reconstruct(self, tensors: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, 8h, 8w) reconstructed faces, float32 clipped to 0..255."""
        self.generator.eval()
        out = [self.generator(self.protection.scatter(chunk.float())) for chunk in tensors.split(batch_size)]
        return torch.cat(out).clamp(0, 255)


def _dominant(images: torch.Tensor, partners: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return images[partners[torch.arange(len(partners)), weights.argmax(dim=1)]]


def train_reconstruction(protection: Protection, images: torch.Tensor, labels: torch.Tensor, steps: int,
                         seed: int, batch_size: int = 32, width: int = 32, progress: bool = True,
                         desc: str = "CGAN") -> ReconstructionAttack:
    """Train the conditional GAN on the attacker's faces.

    :param protection: the attacker's belief of the defense.
    :param images: (N, P, H, W) uint8 faces the attacker owns; ``labels`` (N,) their identities.
    :param steps: generator (and discriminator) updates; every step protects a fresh batch, so the generator never
        sees the same mix twice.
    :param seed: seeds network init, batch draws, augmentation and the protection's randomness.
    :param width: channels of the U-Net's first level (doubled per level) and of the discriminator.
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    faces = images.float()
    codec = CoefficientCodec.fit(faces)
    # Input scale: each scattered plane's spread over one protected pass of the attacker's faces.
    tensors, _, _ = protection.protect_all(faces, labels, rng)
    in_scale = protection.scatter(tensors).std(dim=(0, 2, 3))
    channels = in_scale.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = FrequencyUNet(channels, codec, in_scale, width)
        discriminator = PatchDiscriminator(codec, in_scale, width)
    opt_g = torch.optim.Adam(generator.parameters(), lr=LEARNING_RATE, betas=BETAS)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=LEARNING_RATE, betas=BETAS)
    bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress, leave=False)
    for _ in bar:
        idx = torch.from_numpy(rng.choice(len(faces), size=min(batch_size, len(faces)), replace=False))
        batch = shift_flip(faces[idx], MAX_SHIFT, gen)
        mixed = protection.protect(batch, labels[idx], rng)
        cond = protection.scatter(mixed.x)
        target = _dominant(batch, mixed.partners, mixed.weights)

        fake = generator(cond)
        real_logits = discriminator(target, cond)
        fake_logits = discriminator(fake.detach(), cond)
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        adv_logits = discriminator(fake, cond)
        l1 = F.l1_loss(fake / 255, target / 255)
        loss_g = F.binary_cross_entropy_with_logits(adv_logits, torch.ones_like(adv_logits)) + L1_WEIGHT * l1
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        bar.set_postfix(l1=f"{l1.item():.3f}", d=f"{loss_d.item():.2f}")
    return ReconstructionAttack(protection, generator)
