"""Exposure over training: an attacker who watches the whole run holds every epoch's batches, so each private face is
exposed once per epoch, each time mixed with other partners (and, for the noisy or dropping recipes, with fresh
noise and another channel subset). Two readings of E epochs:

- **linked**: the attacker links a face's exposures and averages them. The face stays (it is in every exposure)
  while what differs from epoch to epoch — partners, noise, a separation's errors — washes out: the idea behind
  Carlini et al.'s attack on InstaHide. A face's exposure in one epoch is the reconstruction of the row that shows it
  best (the highest SSIM among the rows that mix it, the rule by which every reconstruction of a mix is scored), or
  its own row's where no row shows it best. The links are given, not found: an upper bound on what linking buys.
- **best**: the face's single best exposure over the E epochs (the highest SSIM). Privacy over a run is decided by
  its weakest batch, not by its mean; the pick uses the true face, so this too is an upper bound: on what an attacker
  who can tell its best exposure from the rest would keep.
- **merged**: where nothing is mixed (k = 1) but each exposure is drawn afresh (``partial``'s channels, ``dctdp``'s
  noise), the attacker links a face's tensors themselves and merges them before decoding: every channel the mean of
  the exposures that kept it (a dropped channel is a zero plane), of magnitudes where signs are flipped.
  Twenty exposures of ``partial`` (a quarter of the channels each) leave a channel missing with probability
  0.75^20 = 0.3%; twenty of ``dctdp`` shrink the noise by √20. The merged tensor is decoded under the belief without
  the per-exposure randomness (:func:`merged_belief`).
- **identity merged**: where nothing is mixed and channels are dropped, an observer that holds the training labels
  (a curious server trains with them) fills each channel a face dropped from the other faces of its identity that
  kept it (:func:`identity_merged`): the reading of a per-face secret subset (``drop_secret``), whose epochs all
  expose the same channels, so that merging epochs adds nothing. The siblings are other photographs, so the filled
  channels are the identity's, not the face's own: what it adds is the person more than the picture.

Exposures are drawn as :meth:`attacks.protection.Protection.protect_all` draws the observed epoch (batches of the
run's size, partners from the same batch). Where nothing is mixed, each epoch also moves every face afresh by the
training's random shift (:attr:`Protection.shift`, as the training did) and each reconstruction is moved back before
it is read (the offsets given, not found: an upper bound on aligning them), so that the linked reading averages what
the block grid sees of a face at up to (2·shift + 1)² phases: where every exposure reads alike
(:attr:`attacks.protection.Protection.exposes_alike`: ``ppfr``, a per-face secret channel subset, sign flips at
k = 1, read as magnitudes) the shift is all that differs from epoch to epoch. The merged tensors are drawn unshifted,
so that they line up. Mixes are linked unshifted: a mix's reconstruction may show a partner, whose shift is not its
row's, and without shifts every exposure stays comparable with the observed epoch's reconstructions, scored against
the unshifted faces (what shifted links would add to them is not measured).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from attacks.attack import BatchReconstructor, Reconstructor, reconstruct_observed
from attacks.protection import ProtectedSet, Protection
from mixup_env.ssim import pairwise_ssim, ssim
from recognizer.augment import random_offsets, translate, undo_translation

EXPOSURES = (1, 5, 20)  # linked epochs per face


@dataclass(frozen=True)
class Exposures:
    """What the attacker recovers of each scored face over the epochs of a run.

    :param linked: E -> (M, P, H, W) the mean of the face's exposures in the first E epochs (:data:`EXPOSURES`).
    :param best: (M, P, H, W) the face's best single exposure over all max(EXPOSURES) epochs.
    :param merged: E -> (M, C, h, w) the face's tensors of the first E epochs merged, E > 1 (empty where the
        protection mixes).
    """

    linked: dict[int, torch.Tensor]
    best: torch.Tensor
    merged: dict[int, torch.Tensor] = field(default_factory=dict)


def merged_belief(truth: Protection) -> Protection:
    """What the merged tensors of a k = 1 protection look like: its pipeline without the per-exposure randomness (no
    channel dropped, no noise; signs still unread, so magnitudes)."""
    return truth.mapped(lambda recipe: replace(recipe, drop=0.0, laplace_epsilon=None))


def epoch_exposures(observed: ProtectedSet, reconstructions: torch.Tensor, images: torch.Tensor,
                    faces: torch.Tensor) -> torch.Tensor:
    """Each face's exposure in one epoch.

    :param observed: the epoch's protected tensors (row i mixes face i with its partners).
    :param reconstructions: (N, P, H, W) an attack's reconstruction of every row.
    :param images: (N, P, H, W) 0..255 the faces the rows mix.
    :param faces: (M,) int64 the faces asked for.
    :return: (M, P, H, W) for each face, the mean of the rows' reconstructions that match it best among the faces
        they mix (its own row's where none does).
    """
    components = observed.components
    n, kmax = components.shape
    rows = torch.arange(n).repeat_interleave(kmax)
    cols = components.reshape(-1)
    live = cols >= 0
    scores = torch.full((n * kmax,), -np.inf)
    scores[live] = pairwise_ssim(reconstructions, images, rows[live], cols[live])
    best = components.gather(1, scores.view(n, kmax).argmax(dim=1, keepdim=True))[:, 0]
    out = torch.empty(len(faces), *reconstructions.shape[1:])
    for m, face in enumerate(faces.tolist()):
        shown = (best == face).nonzero().flatten()
        out[m] = reconstructions[shown].mean(dim=0) if len(shown) else reconstructions[face]
    return out


def run_exposures(truth: Protection, attack: Reconstructor | BatchReconstructor, images: torch.Tensor,
                  labels: torch.Tensor, faces: torch.Tensor, rng: np.random.Generator) -> Exposures:
    """Expose every face once per epoch for ``max(EXPOSURES)`` epochs and read ``attack``'s reconstructions both
    ways (see the module docstring).

    :param images: (N, P, H, W) 0..255 every face of the training set (all of them are protected each epoch);
        ``labels`` (N,) their identities.
    :param faces: (M,) int64 the faces scored.
    """
    targets = images[faces].float()
    total = torch.zeros_like(targets)
    best, best_ssim = targets.clone(), torch.full((len(faces),), -np.inf)
    linked, merged = {}, {}
    tensor_sum = kept = None
    # A mix's reconstruction may show a partner, whose shift is not its row's: mixes are linked unshifted.
    shift = 0 if truth.mixes else truth.shift
    merging = not truth.mixes and not truth.exposes_alike
    for epoch in range(1, max(EXPOSURES) + 1):
        offsets = random_offsets(len(images), shift, rng, truth.shift_step) if shift else None
        shown = images.float() if offsets is None else translate(images, offsets, shift)
        observed = truth.protect_all(shown, labels, rng, named=True)
        reconstructed = reconstruct_observed(attack, observed)
        if offsets is not None:
            reconstructed = undo_translation(reconstructed, offsets, shift)
        exposure = epoch_exposures(observed, reconstructed, images.float(), faces)
        total += exposure
        if merging:
            # Row i holds face i alone: its tensor, as much of it as the exposure kept, drawn unshifted so that the
            # tensors line up (one that reads the same every epoch but for its shift has nothing to merge).
            aligned = observed if offsets is None else truth.protect_all(images.float(), labels, rng, named=True)
            own = truth.readable(aligned.tensors[faces])
            live = (own != 0).any(dim=(2, 3), keepdim=True).to(own.dtype)
            tensor_sum = own if tensor_sum is None else tensor_sum + own
            kept = live if kept is None else kept + live
        if epoch in EXPOSURES:
            linked[epoch] = total / epoch
            if tensor_sum is not None and epoch > 1:
                merged[epoch] = tensor_sum / kept.clamp(min=1)
        score = ssim(exposure, targets)
        better = score > best_ssim
        best[better], best_ssim[better] = exposure[better], score[better]
    return Exposures(linked, best, merged)


def identity_merged(truth: Protection, images: torch.Tensor, labels: torch.Tensor, faces: torch.Tensor,
                    rng: np.random.Generator) -> torch.Tensor:
    """(M, C, h, w) each scored face's readable tensor with every channel it dropped filled in by the mean of the
    other faces of its identity that kept it (zero where none did), from one named, unshifted epoch of a protection
    that mixes nothing (:meth:`Protection.readable`: magnitudes where signs are flipped).

    :param images: (N, P, H, W) 0..255 every training face; ``labels`` (N,) their identities (the observer's).
    :param faces: (M,) int64 the faces scored.
    """
    tensors = truth.readable(truth.protect_all(images.float(), labels, rng, named=True).tensors)
    live = (tensors != 0).any(dim=(2, 3))
    out = torch.empty(len(faces), *tensors.shape[1:])
    for m, face in enumerate(faces.tolist()):
        siblings = labels == labels[face]
        siblings[face] = False
        kept = live[siblings].to(tensors.dtype)[..., None, None]
        fill = (tensors[siblings] * kept).sum(dim=0) / kept.sum(dim=0).clamp(min=1)
        out[m] = torch.where(live[face][:, None, None], tensors[face], fill)
    return out
