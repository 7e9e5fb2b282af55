"""Black-box recovery of the secrets a fixed channel selection and shuffle key are meant to hide, from statistics of
the protected tensors alone.

Every block-DCT channel of a face has its own energy level and its own spatial energy map over the block grid (low
frequencies are strong everywhere, horizontal-edge channels light up at the eyes and mouth, ...). The attacker
computes, for every one of the ``P*64`` channels of its own faces, the log of the mean squared coefficient at each
block position; the same for every observed (protected, shuffled) channel; and matches the two with one Hungarian
assignment (:func:`scipy.optimize.linear_sum_assignment` on a C × P·64 cost), which gives the channel *set* and its
*order* at once. Mixing k faces with weights w scales every channel's energy by about E[Σ w²] (and Laplace noise
raises it), a shift common to all log-energies; the assignment is searched over that shift, and the best shift is
what the attacker reads the k distribution from (:func:`estimate_k`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from attacks.protection import Protection
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import COEFFS_PER_BLOCK, FrequencyTransform, images_to_coefficients
from mixup_env.spaces import PAPER_K_CHOICES

ENERGY_FLOOR = 1e-6  # squared coefficient units; keeps log finite on constant planes
LEVEL_WEIGHT = 1.0  # weight of the (shifted) mean log-energy against the spatial map in the matching cost
SHIFTS = np.linspace(-4.0, 4.0, 401)  # candidate common log-energy shifts (natural log of an energy ratio)
K_RANGE = tuple(range(1, max(PAPER_K_CHOICES) + 1))  # the k a recovered belief may hold


def log_energy_maps(coeffs: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) coefficient planes -> (C, h, w) float64: log of the mean squared coefficient at every block
    position of every channel, over the images in which that channel is live.

    A plane that is zero throughout was dropped (``Recipe.drop``: each tensor keeps its own random subset) and says
    nothing about the face; averaging it in would scale each channel by its own random count of survivors, noise
    that hides the channel's level."""
    if coeffs.dim() != 4 or len(coeffs) == 0:
        raise FreqmixError(f"expected a non-empty batch of planes (N, C, h, w), got shape {tuple(coeffs.shape)}")
    energy = coeffs.double().pow(2)
    live = (energy.sum(dim=(2, 3)) > 0).double()  # (N, C)
    mean = energy.sum(dim=0) / live.sum(dim=0).clamp(min=1)[:, None, None]
    return torch.log(mean + ENERGY_FLOOR)


def _split(maps: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(C, h, w) log-energy maps -> (levels (C,), centred spatial maps (C, h*w))."""
    flat = maps.flatten(1).numpy()
    levels = flat.mean(axis=1)
    return levels, flat - levels[:, None]


@dataclass(frozen=True)
class KeyRecovery:
    """What the statistics gave away.

    :param kept: (C,) int64, the slot (0..P*64-1) each protected channel is believed to come from, in the protected
        order: the recovered channel set and shuffle at once.
    :param shift: the common log-energy shift of the best assignment (observed level + shift = clean level): about
        −log E[Σ w²] for a mix.
    :param cost: the mean matching cost of that assignment.
    """

    kept: torch.Tensor
    shift: float
    cost: float

    def transform(self, planes: int) -> FrequencyTransform:
        """The recovered transform: the kept channels, in the recovered order."""
        return FrequencyTransform.from_kept(planes, self.kept.tolist())

    def recovered_fraction(self, truth: FrequencyTransform) -> float:
        """Share of protected channels put back in their true slot (needs the truth: for scoring only)."""
        if len(truth.kept) != len(self.kept):
            raise FreqmixError(f"the truth keeps {len(truth.kept)} channels, the recovery {len(self.kept)}")
        return float((truth.kept == self.kept).double().mean())


def recover_channels(tensors: torch.Tensor, faces: torch.Tensor) -> KeyRecovery:
    """Match each protected channel to a block-DCT slot of the attacker's own faces.

    :param tensors: (N, C, h, w) protected tensors the attacker observes.
    :param faces: (M, P, H, W) 0..255 faces the attacker owns, of the same size (H = 8h, W = 8w).
    """
    if tensors.dim() != 4 or faces.dim() != 4 or tuple(faces.shape[2:]) != (8 * tensors.shape[2], 8 * tensors.shape[3]):
        raise FreqmixError(f"faces {tuple(faces.shape)} must be the size the tensors {tuple(tensors.shape)} were made "
                           "from (8 pixels per block)")
    slots = faces.shape[1] * COEFFS_PER_BLOCK
    if tensors.shape[1] > slots:
        raise FreqmixError(f"{tensors.shape[1]} protected channels cannot come from {slots} block-DCT slots")
    clean_levels, clean_maps = _split(log_energy_maps(images_to_coefficients(faces.float())))
    seen_levels, seen_maps = _split(log_energy_maps(tensors.float()))
    # Squared distance of every observed map to every clean map: (C, slots).
    shape_cost = ((seen_maps[:, None, :] - clean_maps[None, :, :]) ** 2).mean(axis=2)
    best = None
    for shift in SHIFTS:
        cost = shape_cost + LEVEL_WEIGHT * (seen_levels[:, None] + shift - clean_levels[None, :]) ** 2
        rows, cols = linear_sum_assignment(cost)
        total = float(cost[rows, cols].mean())
        if best is None or total < best[0]:
            best = (total, float(shift), cols[np.argsort(rows)])
    total, shift, cols = best
    return KeyRecovery(torch.from_numpy(cols.astype(np.int64)), shift, total)


def estimate_k(tensors: torch.Tensor, faces: torch.Tensor, belief: Protection, seed: int) -> int:
    """The k (1..6) whose mixes of the attacker's own faces, protected with ``belief``, shrink the kept channels'
    mean log-energy as much as the observed tensors': the attacker's reading of how many faces a tensor mixes.

    :param tensors: (N, C, h, w) protected tensors the attacker observes.
    :param faces: (M, P, H, W) 0..255 faces the attacker owns.
    :param belief: the recovered transform with the attacker's other beliefs (weights, α, noise); its k is ignored.
    :param seed: seeds the simulated mixes.

    The attacker's faces need not be as energetic as the private ones (on ORL the auxiliary identities' kept
    channels carry e^0.28 ≈ 1.3 times the private ones' energy), which biases the reading towards larger k.
    """
    seen = log_energy_maps(tensors.float()).mean().item()
    rng = np.random.default_rng(seed)
    labels = torch.zeros(len(faces), dtype=torch.long)
    gaps = {}
    for k in K_RANGE:
        if k > min(belief.batch_size, len(faces)):
            break
        simulated = belief.with_k(k).protect_all(faces.float(), labels, rng).tensors
        gaps[k] = abs(log_energy_maps(simulated).mean().item() - seen)
    return min(gaps, key=gaps.get)


def recovered_belief(guess: Protection, tensors: torch.Tensor, faces: torch.Tensor, seed: int,
                     read_k: bool = True) -> tuple[Protection, KeyRecovery]:
    """The black-box attacker's belief after recovery: ``guess`` (what it knows of the method, e.g.
    :func:`attacks.protection.black_box_guess`) with the recovered channel set and order (ascending when the method
    does not shuffle; all channels in order when it keeps them all unshuffled), and, when the method mixes and
    ``read_k``, the k read from the energy shrink (:func:`estimate_k`) in place of the guessed distribution.

    :param tensors: (N, C, h, w) protected tensors the attacker observes.
    :param faces: (M, P, H, W) 0..255 faces the attacker owns.
    :param seed: seeds the simulated mixes of :func:`estimate_k`.
    """
    recovery = recover_channels(tensors, faces)
    shuffled = guess.transform.key is not None
    if not shuffled:
        # Without a shuffle the kept channels stay in ascending order, and keeping all of them leaves no secret.
        every = tensors.shape[1] == guess.planes * COEFFS_PER_BLOCK
        kept = torch.arange(tensors.shape[1]) if every else recovery.kept.sort().values
        recovery = replace(recovery, kept=kept)
    belief = replace(guess, transform=recovery.transform(guess.planes))
    if guess.mixes and read_k:
        belief = belief.with_k(estimate_k(tensors, faces, belief, seed))
    return belief, recovery
