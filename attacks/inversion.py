"""Model inversion against a trained recognizer, with white-box access to its weights and to the defender's
masking transform (channel set and key): optimise an image, through the differentiable block-DCT pipeline, so that
the recognizer assigns it a chosen private identity.

The identity loss is the negative logit margin of the target identity over the best other one, divided by the
head's logit scale: unlike cross-entropy it does not saturate once the target identity wins, so the search keeps
moving towards the identity's centre instead of stopping at the first adversarial pattern. Two image priors:
(a) total variation + L2 distance to the attacker's mean face, on an image parametrised as a smooth offset from that
    mean face (one value per 8×8 block, bilinearly upsampled): the coarse grid itself is the strongest prior;
(b) a generator prior in the spirit of GMI (Zhang et al., CVPR 2020): a decoder trained on the attacker's own faces
    (autoencoder with a PatchGAN adversarial term, at a quarter of the resolution), searched in its latent sphere
    with the discriminator's realism as the prior loss.
Both optimise under random left-right flips (the recognizers are not shift-invariant at sub-block level, so shifts
would fight the target model instead of regularising).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attacks.augment import shift_flip
from attacks.networks import CoarseDiscriminator, CoarseEncoder, LatentGenerator, shrink
from freqmix_base.errors import FreqmixError
from freqmix_base.progress_bar import progress_bar
from mixup_env.frequency import FrequencyTransform
from recognizer.trainer import Recognizer

LATENT_NOISE = 0.3  # std of the noise added to latent codes while training the prior (smooths the decoder)
PRIOR_L1_WEIGHT = 100.0


class TargetModel:
    """The attacked recognizer behind the defender's transform, differentiable with respect to the image.

    :param recognizer: the trained recognizer (its modules are put in eval mode and frozen).
    :param transform: the defender's masking transform (white-box: true channel set and key).
    """

    def __init__(self, recognizer: Recognizer, transform: FrequencyTransform) -> None:
        if transform.out_channels != recognizer.config["in_channels"]:
            raise FreqmixError(f"the recognizer takes {recognizer.config['in_channels']} channels but the transform "
                             f"makes {transform.out_channels}; the checkpoint does not match the run's config")
        self.recognizer, self.transform = recognizer, transform
        for module in (recognizer.backbone, recognizer.head):
            module.eval()
            module.requires_grad_(False)
        # Cosine heads scale cosines by s; dividing by it puts the margin in cosine units.
        self.logit_scale = float(getattr(recognizer.head, "s", 1.0))

    @property
    def num_classes(self) -> int:
        """Identities K the recognizer was trained on."""
        return int(self.recognizer.config["num_classes"])

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, P, H, W) 0..255 -> (N, K) margin-free identity logits."""
        return self.recognizer.logits(self.transform(images.to(self.recognizer.device))).cpu()

    def identity_loss(self, images: torch.Tensor, identities: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of -(logit of the wanted identity - largest other logit) / logit scale."""
        logits = self.logits(images)
        wanted = logits.gather(1, identities[:, None])[:, 0]
        others = logits.scatter(1, identities[:, None], -torch.inf).max(dim=1).values
        return -(wanted - others).mean() / self.logit_scale


def _flip(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return shift_flip(images, 0, gen)


def _total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def invert_tv(target: TargetModel, identities: torch.Tensor, mean_face: torch.Tensor, steps: int, seed: int,
              lr: float = 0.05, tv_weight: float = 2.0, l2_weight: float = 2.0, progress: bool = True
              ) -> torch.Tensor:
    """Inversion with a total-variation + L2 prior on a block-smooth image.

    :param identities: (M,) private identity to invert for each output image.
    :param mean_face: (P, H, W) 0..255, the start point and L2 anchor (the attacker's mean face).
    :param steps: Adam steps of learning rate ``lr`` on the offset grid (units of 127.5 grey levels).
    :param tv_weight, l2_weight: weights of TV(x/255) and mean(((x - mean_face)/255)²) against the identity loss.
    :return: (M, P, H, W) images 0..255.
    """
    gen = torch.Generator().manual_seed(seed)
    anchor = mean_face.float()[None]
    size = tuple(anchor.shape[2:])
    grid = (len(identities), anchor.shape[1], size[0] // 8, size[1] // 8)
    offset = (0.01 * torch.randn(grid, generator=gen)).requires_grad_(True)

    def image() -> torch.Tensor:
        up = F.interpolate(offset, size=size, mode="bilinear", align_corners=False)
        return (anchor + 127.5 * up).clamp(0, 255)

    opt = torch.optim.Adam([offset], lr=lr)
    bar = progress_bar(range(steps), desc="inversion (TV prior)", unit="step", disable=not progress, leave=False)
    for _ in bar:
        x = image()
        identity = target.identity_loss(_flip(x, gen), identities)
        loss = identity + tv_weight * _total_variation(x / 255) + l2_weight * ((x - anchor) / 255).pow(2).mean()
        (offset.grad,) = torch.autograd.grad(loss, [offset])
        opt.step()
        bar.set_postfix(identity=f"{identity.item():.3f}")
    return image().detach()


@dataclass
class GeneratorPrior:
    """A decoder of coarse faces from a latent sphere, its discriminator, and the attacker's faces' codes.

    :param generator: latent (N, d) on the sphere of radius sqrt(d) -> coarse faces (``generator.full`` upsamples).
    :param discriminator: PatchGAN realism of coarse faces.
    :param latents: (N_aux, d) codes of the attacker's faces (starting points of the search).
    """

    generator: LatentGenerator
    discriminator: CoarseDiscriminator
    latents: torch.Tensor


def _to_sphere(z: torch.Tensor) -> torch.Tensor:
    return F.normalize(z, dim=1) * math.sqrt(z.shape[1])


def train_generator_prior(images: torch.Tensor, steps: int, seed: int, latent_dim: int = 64, batch_size: int = 32,
                          width: int = 64, progress: bool = True, device: str = "cpu") -> GeneratorPrior:
    """Train the generator prior on the attacker's faces (N, P, H, W) uint8: encoder and decoder as an
    autoencoder of coarse faces (L1, noisy latent codes on a sphere) with a PatchGAN adversarial term. The networks
    train and stay on ``device`` (random draws are made on the CPU, so any device sees the same batches); the
    latent codes are kept on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    faces = images.float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = CoarseEncoder(latent_dim, faces.shape[1], width)
        generator = LatentGenerator(latent_dim, faces.shape[1], tuple(faces.shape[2:]), width)
        discriminator = CoarseDiscriminator(faces.shape[1], width)
    for module in (encoder, generator, discriminator):
        module.to(device, memory_format=torch.channels_last)  # oneDNN's fast layout: a step 20% shorter on a CPU
    opt_g = torch.optim.Adam([*encoder.parameters(), *generator.parameters()], lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bar = progress_bar(range(steps), desc="generator prior", unit="step", disable=not progress, leave=False)
    for _ in bar:
        idx = torch.randint(len(faces), (min(batch_size, len(faces)),), generator=gen)
        real = shrink(_flip(faces[idx], gen).to(device))
        z = _to_sphere(encoder(real))
        fake = generator(_to_sphere(z + LATENT_NOISE * torch.randn(z.shape, generator=gen).to(device)))

        real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        discriminator.requires_grad_(False)  # the generator's update needs no discriminator gradients
        adv_logits = discriminator(fake)
        l1 = F.l1_loss(fake / 255, real / 255)
        loss_g = F.binary_cross_entropy_with_logits(adv_logits, torch.ones_like(adv_logits)) + PRIOR_L1_WEIGHT * l1
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        bar.set_postfix(l1=f"{l1.item():.3f}")
    for module in (encoder, generator, discriminator):
        module.eval()
        module.requires_grad_(False)
    latents = torch.cat([_to_sphere(encoder(shrink(chunk.to(device)))).cpu() for chunk in faces.split(64)])
    return GeneratorPrior(generator, discriminator, latents)


def invert_gmi(target: TargetModel, prior: GeneratorPrior, identities: torch.Tensor, steps: int, seed: int,
               lr: float = 0.05, prior_weight: float = 0.1, progress: bool = True) -> torch.Tensor:
    """Inversion in the generator prior's latent sphere (GMI-style).

    Each output starts from the code of a random attacker face; Adam minimises the identity loss plus
    ``prior_weight`` × the discriminator's "fake" loss, projecting the codes back onto the sphere after each step.

    :param identities: (M,) private identity to invert for each output image.
    :return: (M, P, H, W) images 0..255.
    """
    gen = torch.Generator().manual_seed(seed)
    start = prior.latents[torch.randint(len(prior.latents), (len(identities),), generator=gen)]
    z = start.clone().to(next(prior.generator.parameters()).device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    bar = progress_bar(range(steps), desc="inversion (generator prior)", unit="step", disable=not progress, leave=False)
    for _ in bar:
        coarse = prior.generator(z)
        identity = target.identity_loss(_flip(prior.generator.full(coarse), gen), identities)
        realism = F.softplus(-prior.discriminator(coarse)).mean()
        (z.grad,) = torch.autograd.grad(identity + prior_weight * realism, [z])
        opt.step()
        with torch.no_grad():
            z.copy_(_to_sphere(z))
        bar.set_postfix(identity=f"{identity.item():.3f}")
    with torch.no_grad():
        return prior.generator.full(prior.generator(z)).clamp(0, 255).cpu()
