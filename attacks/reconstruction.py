"""Reconstruction attack: a pix2pix-style conditional GAN from protected frequency tensors back to face images.

The attacker protects its own faces (identities disjoint from the private ones) the way it believes the defense
does (:class:`attacks.protection.Protection`: the truth for a white-box attacker, a guess for a black-box one),
trains a U-Net generator with L1 + adversarial loss against a PatchGAN discriminator to turn them back into the
faces (the dominant, largest-weight component of a mix), then applies it to the private protected tensors.
The generator is a residual on top of the analytic inverse of the same belief (:mod:`mixup_env.analytic_inverse`): at step 0
it is that inverse, and its learning curve (L1, SSIM on held-back protected faces against steps) is recorded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from attacks.augment import dominant_faces, protected_training_batch
from attacks.metrics import ssim
from attacks.networks import CoefficientCodec, FrequencyUNet, PatchDiscriminator
from attacks.protection import Protection
from freqmix_base.progress_bar import progress_bar
from mixup_env.analytic_inverse import AnalyticInverse

L1_WEIGHT = 100.0  # pix2pix's λ (its L1 is on images in [-1, 1]; ours on [0, 1], the same ratio up to 2)
LEARNING_RATE = 2e-4
BETAS = (0.5, 0.999)
CURVE_POINTS = 10  # learning-curve evaluations after step 0
CURVE_FACES = 32  # protected attacker faces the learning curve is measured on


@dataclass
class ReconstructionAttack:
    """A trained generator and the belief it was trained under.

    :param protection: how the attacker believes tensors were protected (it scatters channels accordingly).
    :param generator: protected planes (N, P*64, h, w) -> images (N, P, H, W).
    :param curve: ``{"step", "l1", "ssim"}`` per evaluation, step 0 first: mean L1 (0..1 scale) and SSIM of the
        generator's faces against the dominant face, on attacker faces it protected once before training.
    """

    protection: Protection
    generator: FrequencyUNet
    curve: list[dict[str, float]]

    @torch.no_grad()
    def reconstruct(self, tensors: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, 8h, 8w) reconstructed faces, float32 on the CPU, clipped to
        0..255."""
        self.generator.eval()
        device = self.generator.in_scale.device
        out = [self.generator(self.protection.scatter(chunk.float()).to(device)).cpu()
               for chunk in tensors.split(batch_size)]
        return torch.cat(out).clamp(0, 255)


def train_reconstruction(protection: Protection, images: torch.Tensor, labels: torch.Tensor, steps: int,
                         seed: int, batch_size: int = 32, width: int = 32, progress: bool = True,
                         desc: str = "CGAN", device: str = "cpu") -> ReconstructionAttack:
    """Train the conditional GAN on the attacker's faces.

    :param protection: the attacker's belief of the defense.
    :param images: (N, P, H, W) uint8 faces the attacker owns; ``labels`` (N,) their identities.
    :param steps: generator (and discriminator) updates; every step protects a fresh batch, so the generator never
        sees the same mix twice.
    :param seed: seeds network init, batch draws, augmentation and the protection's randomness.
    :param width: channels of the U-Net's first level (doubled per level) and of the discriminator.
    :param device: where the networks train (``"cpu"``, ``"cuda"``).
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    faces = images.float()
    codec = CoefficientCodec.fit(faces)
    # Input scale: each scattered plane's spread over one protected pass of the attacker's faces.
    protected = protection.protect_all(faces, labels, rng)
    in_scale = protection.scatter(protected.tensors).std(dim=(0, 2, 3))
    channels = in_scale.shape[0]
    analytic = AnalyticInverse.fit(protection.transform, faces)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = FrequencyUNet(channels, codec, in_scale, analytic.fill, analytic.kept_mask, width).to(device)
        discriminator = PatchDiscriminator(codec, in_scale, width).to(device)
    probe = protected.tensors[:CURVE_FACES]
    probe_target = dominant_faces(faces, protected.components[:CURVE_FACES], protected.weights[:CURVE_FACES])
    attack = ReconstructionAttack(protection, generator, [])
    every = max(1, steps // CURVE_POINTS)
    opt_g = torch.optim.Adam(generator.parameters(), lr=LEARNING_RATE, betas=BETAS)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=LEARNING_RATE, betas=BETAS)
    bar = progress_bar(range(steps), desc=desc, unit="step", disable=not progress, leave=False)
    for step in bar:
        if step % every == 0:
            attack.curve.append(_curve_point(attack, step, probe, probe_target))
            generator.train()
        mixed, target = protected_training_batch(protection, faces, labels, batch_size, rng, gen)
        cond = protection.scatter(mixed.x).to(device)
        target = target.to(device)
        l1, loss_d = _gan_step(generator, discriminator, opt_g, opt_d, cond, target)
        bar.set_postfix(l1=f"{l1.item():.3f}", d=f"{loss_d.item():.2f}")
    attack.curve.append(_curve_point(attack, steps, probe, probe_target))
    return attack


def _gan_step(generator: FrequencyUNet, discriminator: PatchDiscriminator, opt_g: torch.optim.Optimizer,
              opt_d: torch.optim.Optimizer, cond: torch.Tensor, target: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One discriminator then one generator update (adversarial + L1 to the dominant face); (L1, discriminator
    loss)."""
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
    return l1, loss_d


def _curve_point(attack: ReconstructionAttack, step: int, tensors: torch.Tensor, targets: torch.Tensor
                 ) -> dict[str, float]:
    faces = attack.reconstruct(tensors)
    return {"step": step, "l1": float(F.l1_loss(faces / 255, targets / 255)),
            "ssim": float(ssim(faces, targets).mean())}
