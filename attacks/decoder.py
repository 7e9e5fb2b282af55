"""The decoder attack: an image-space U-Net that turns the analytic inverse of a protected tensor into a face.

The literature's reconstruction protocol (PPFR-FD, PartialFace and MinusFace evaluations): the attacker protects its
own faces the way it believes the defense does (:class:`attacks.protection.Protection`; fresh mixes and pose and
lighting jitter every step) and trains a U-Net with L1 + (1 − SSIM, :mod:`mixup_env.ssim`) to map them back to the
faces (the dominant, largest-weight component of a mix). The U-Net's input is the analytic inverse under the same
belief (:mod:`mixup_env.analytic_inverse`) and its output a residual added to it, with a zero-initialised last layer:
at step 0 the decoder *is* the analytic attack, so training can only add to what costs nothing. Where the belief
flips signs at random (InstaHide's mask), the decoder reads the magnitudes |y|, which no sign flip changes, as
Carlini et al. read InstaHide's encodings. A face is decoded as it is and mirrored, and the two decodings averaged.

The U-Net runs on a standardised 2×2 space-to-depth of the image (H/2 × W/2, an exact, invertible rearrangement that
keeps every pixel). Near pixel resolution its convolutions share weights across almost every shift of a face, which
is what lets a decoder trained on a few public identities generalise to unseen ones: on ORL `ppfr` (k = 1, seed 0,
800 steps, one core) the private faces decoded from this grid reach SSIM 0.612, from the 8×8 block-DCT grid (14×14 for
112-pixel faces) 0.567 and from a 4×4 grid 0.520 (docs/privacy_metrics.md).

On a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX) the U-Net's convolutions run in bfloat16 and
channels-last, the residual and everything around it in float32: a default-budget training step of 16 faces on two
cores took 250–290 ms in float32 and 200 ms so (docs/privacy_metrics.md has what it does to the attack).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from attacks.augment import dominant_faces, protected_training_batch
from attacks.networks import PixelGrid
from attacks.protection import Protection
from freqmix_base.errors import FreqmixError
from freqmix_base.progress_bar import progress_bar
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.ssim import DATA_RANGE, ssim

CURVE_POINTS = 10  # learning-curve evaluations after step 0
PROBE_FACES = 48  # attacker faces held out of training, on which the learning curve is measured


def _block(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    # GroupNorm, not BatchNorm: batches are small and inference sees single images.
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                         nn.GroupNorm(min(8, out_ch), out_ch), nn.SiLU())


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` is a CPU whose instructions compute in bfloat16 (elsewhere bfloat16 is emulated, slower
    than float32, so the decoder stays in float32; on CUDA it stays in float32 too)."""
    if device.type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without the probes
        return False


class ResidualUNet(nn.Module):
    """Image -> image U-Net with skip connections that predicts a residual on top of its input.

    It sees the image through :class:`attacks.networks.PixelGrid` (2×2 cells as channels, standardised); its
    residual, in the same standardised cells, goes back through the exact inverse rearrangement.

    :param codec: the cell statistics of the attacker's clean faces (:class:`attacks.networks.PixelGrid`).
    :param widths: channels per level, finest (H/2 × W/2) first; each further level halves the grid.
    """

    def __init__(self, codec: PixelGrid, widths: tuple[int, ...] = (24, 48, 96, 192, 384)) -> None:
        super().__init__()
        if len(widths) < 2:
            raise FreqmixError(f"the decoder needs at least 2 levels, got widths {widths}")
        self.codec = codec
        channels = codec.channels
        self.down = nn.ModuleList()
        in_ch = channels
        for level, width in enumerate(widths):
            self.down.append(nn.Sequential(_block(in_ch, width, stride=1 if level == 0 else 2), _block(width, width)))
            in_ch = width
        self.up = nn.ModuleList(_block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.out = nn.Conv2d(widths[0] + channels, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, P, H, W) images 0..255 -> (N, P, H, W) images 0..255 (not clipped): input + learned residual."""
        z = self.codec.encode(images).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=native_bfloat16(images.device)):
            skips, h = [], z
            for level in self.down:
                h = level(h)
                skips.append(h)
            for block, skip in zip(self.up, reversed(skips[:-1])):
                h = block(torch.cat([F.interpolate(h, size=skip.shape[2:], mode="nearest"), skip], 1))
            residual = self.out(torch.cat([h, z], 1)).float()
        # decode(z + r) - decode(z) is exactly 0 for r = 0: the untrained network returns its input bit for bit.
        return images + (self.codec.decode(z + residual) - self.codec.decode(z))


@dataclass
class DecoderAttack:
    """A trained decoder and the belief it was trained under.

    :param protection: the belief the decoder was trained under.
    :param analytic: the analytic inverse of the belief (the decoder's input).
    :param network: the residual U-Net.
    :param curve: ``{"step", "loss", "ssim", "seconds"}`` per evaluation, step 0 first: the training loss (mean since
        the last point; at step 0 the probe's loss), the SSIM of the decoded held-out probe faces against their
        dominant face, and the wall time since training began.
    :param device: where the network runs.
    :param mirrored: decode each face as it is and mirrored, averaged (the attack's strongest reading); False: once,
        at half the cost (a signal scored on every training batch, :mod:`freqmix.experiment.leakage_decoder`).
    """

    protection: Protection
    analytic: AnalyticInverse
    network: ResidualUNet
    curve: list[dict[str, float]] = field(default_factory=list)
    device: str = "cpu"
    mirrored: bool = True

    def inverse(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, 8h, 8w) analytic inverses clipped to 0..255 of what the belief
        can read of them (:meth:`attacks.protection.Protection.readable`): the input."""
        return self.analytic.reconstruct(self.protection.readable(tensors))

    @torch.no_grad()
    def decode(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """(N, P, H, W) analytic inverses 0..255 -> (N, P, H, W) decoded faces on the CPU, clipped to 0..255.

        Each face is decoded as it is and mirrored left-right, and the two decodings averaged (unless not
        :attr:`mirrored`): the decoder trains on both orientations, and its errors in them differ (ORL ``ppfr``,
        default budget, one decoder: private SSIM 0.622 -> 0.632, recon-id 0.21 -> 0.25). Untrained, every decoding
        is the input, so step 0 stays the analytic attack."""
        self.network.eval()

        def run(chunk: torch.Tensor) -> torch.Tensor:
            return self.network(chunk.to(self.device)).cpu()

        out = [(run(chunk) + run(chunk.flip(3)).flip(3)) / 2 if self.mirrored else run(chunk)
               for chunk in images.split(batch_size)]
        return torch.cat(out).clamp(0, 255)

    def reconstruct(self, tensors: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, 8h, 8w) faces (the dominant component of a mix), float32 on the
        CPU, clipped to 0..255."""
        return self.decode(self.inverse(tensors.float()), batch_size)


def _loss(decoded: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(decoded / DATA_RANGE, target / DATA_RANGE) + (1 - ssim(decoded, target)).mean()


def train_decoder(protection: Protection, images: torch.Tensor, labels: torch.Tensor, steps: int, seed: int,
                  batch_size: int = 32, widths: tuple[int, ...] = (24, 48, 96, 192, 384),
                  learning_rate: float = 2e-3, fill_faces: torch.Tensor | None = None,
                  probe_faces: int = PROBE_FACES, progress: bool = True, desc: str = "decoder",
                  device: str = "cpu") -> DecoderAttack:
    """Train the decoder on the attacker's faces.

    :param protection: the attacker's belief of the defense (the truth for a white-box attacker).
    :param images: (N, P, H, W) uint8 faces the attacker owns; ``labels`` (N,) their identities.
    :param steps: optimiser updates (Adam, one-cycle learning rate peaking at ``learning_rate``); every step
        protects a fresh, augmented batch, so the decoder never sees the same mix twice.
    :param seed: seeds network init, batch draws, augmentation, the protection's randomness and the probe.
    :param widths: U-Net channels per level (see :class:`ResidualUNet`).
    :param fill_faces: (M, P, H, W) faces whose mean face stands in for dropped channels in the analytic inverse
        (default: ``images``). The auxiliary identities, captured like the private ones, make a better fill than a
        folder of other public faces (ORL ppfr: analytic SSIM 0.426 with the auxiliary mean, 0.351 with the mean of
        the auxiliary faces plus the LFW subset).
    :param probe_faces: faces held out of training for the learning curve (at most a quarter of ``images``).
    :param device: where the network trains (``"cpu"``, ``"cuda"``).
    """
    if steps < 0:
        raise FreqmixError(f"decoder steps must be >= 0, not {steps}")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    faces = images.float()
    order = rng.permutation(len(faces))
    n_probe = min(probe_faces, len(faces) // 4)
    probe_idx, train_idx = torch.from_numpy(order[:n_probe]), torch.from_numpy(np.sort(order[n_probe:]))
    analytic = AnalyticInverse.fit(protection.transform, faces if fill_faces is None else fill_faces.float())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = ResidualUNet(PixelGrid.fit(faces), widths).to(device)
    attack = DecoderAttack(protection, analytic, network, [], device)
    probe_inverse, probe_target = _probe(attack, faces[probe_idx], labels[probe_idx], rng)

    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=max(steps, 1),
                                                   pct_start=0.15)
    every = max(1, steps // CURVE_POINTS)
    train_faces, train_labels = faces[train_idx], labels[train_idx]
    running: list[float] = []
    bar = progress_bar(range(steps), desc=desc, unit="step", disable=not progress, leave=False)
    for step in bar:
        if step % every == 0:
            attack.curve.append(_curve_point(attack, step, probe_inverse, probe_target, running, started))
            running = []
        network.train()
        mixed, target = protected_training_batch(protection, train_faces, train_labels, batch_size, rng, gen)
        inverse = attack.inverse(mixed.x).to(device)
        target = target.to(device)
        loss = _loss(network(inverse), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(loss.item())
        bar.set_postfix(loss=f"{running[-1]:.3f}")
    attack.curve.append(_curve_point(attack, steps, probe_inverse, probe_target, running, started))
    return attack


def _probe(attack: DecoderAttack, faces: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out faces protected once under the attack's belief: (their analytic inverses, their dominant faces)."""
    protected = attack.protection.protect_all(faces, labels, rng)
    return attack.inverse(protected.tensors), dominant_faces(faces, protected.components, protected.weights)


def _curve_point(attack: DecoderAttack, step: int, inverse: torch.Tensor, target: torch.Tensor,
                 running: list[float], started: float) -> dict[str, float]:
    decoded = attack.decode(inverse)
    loss = float(np.mean(running)) if running else float(_loss(decoded, target))
    # The curve's SSIM in float64, as the privacy figures are computed (the loss's float32 is for speed).
    return {"step": step, "loss": loss, "ssim": float(ssim(decoded.double(), target).mean()),
            "seconds": time.perf_counter() - started}
