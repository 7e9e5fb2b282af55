"""Blind source separation of a mixed batch: how a batch observer undoes frequency MixUp.

Every row of a training batch mixes its own face with k − 1 faces of the same batch (:mod:`mixup_env.masking`), so a
batch of B protected tensors is ``Y = W X``: X the batch's unmixed (k = 1) tensors, W an unknown non-negative B × B
matrix whose rows sum to 1. Linear in the faces, that is blind source separation, and a stock tool solves it:
scikit-learn's FastICA on the B observed tensors (each a mixture, each coefficient position a sample) recovers the
B sources up to order, sign and scale, with no key, no weights and no partners known. It is fitted on the sparse,
high-frequency channels, found by their energy alone, and the mixing it reads there unmixes every channel
(:func:`sparse_channels`). The rest comes from what the method makes public (Kerckhoffs):

- **sign**: mixing weights are positive, so each source takes the sign of its largest mixing-matrix entry;
- **scale**: every row's weights sum to 1, so the inverse scales ``d`` solve ``A d = 1`` for the recovered mixing
  matrix A (non-negative least squares); a scale that the system leaves undetermined (0) or far off is clamped to the
  batch's median energy (on ORL's hybrid mask this rule puts a source within 13–15% of the true tensor's norm, where
  the attacker's mean clean energy puts it within 25–28%);
- **which face a row shows**: the recovered weights say which faces a row mixes; each row is assigned a different
  one of them by one Hungarian assignment (:func:`assign_sources`), so that every face of the batch is shown once and
  a row's reconstruction is a face mixed into it (ORL, k = 2 … 6: 94–98% of rows show a face they mix, 96–99 of 100
  faces are shown).

On ORL (hybrid mask, batches of 32, Dirichlet weights) the median correlation of a true k = 1 tensor with its
recovered source is 0.995 at k = 2, 4 and 6. Tried and left out (same batches): re-solving X with the weights cut to
the k largest per row (median correlation 0.85–0.93) and alternating non-negative least squares from the ICA start
(0.68–0.96) both lose to FastICA alone; FastICA's cube contrast reaches 0.89–0.90, its logcosh contrast
0.993–0.994 and its exp contrast, kept, 0.995. Fitting the separation on a random subset of the coefficient
positions (``samples``) trades a little of it for time: 2,048 of ORL's 7,056 positions give 0.98 at about a third of
the cost.

The env's leakage signal separates each training batch as this attacker would (:mod:`mixup_env.leakage`);
``attacks.unmixing`` is the attack built on it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment, nnls
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning

from freqmix_base.errors import FreqmixError

CONTRAST = "exp"  # FastICA's non-Gaussianity measure (see the module docstring for the others tried)
MAX_ITERATIONS = 1000
# A recovered source's energy outside [median / SCALE_SPREAD, median × SCALE_SPREAD] of its batch's is a scale the
# row sums did not pin down: the faces of one batch carry energies within about a factor 2 of each other.
SCALE_SPREAD = 3.0
FIT_CHANNELS = 36  # the fewest lowest-energy channels a separation is fitted on (see sparse_channels)
MIN_SHARE = 0.05  # a source holding less than this share of a row's largest weight is not taken for a face it mixes
_UNHELD_COST = 1e6  # an assignment cost no sum of held weights (each >= -1 per row) can reach


@dataclass(frozen=True)
class Separation:
    """One batch, separated.

    :param sources: (B, C, h, w) the recovered unmixed tensors, signed and scaled.
    :param weights: (B, B) the recovered mixing weights, rows (mixes) by columns (sources); rows sum to about 1.
    :param assignment: (B,) int64, the source each row is assigned (a permutation).
    """

    sources: torch.Tensor
    weights: torch.Tensor
    assignment: torch.Tensor


def separate(tensors: torch.Tensor, seed: int, samples: int | None = None) -> Separation:
    """Blind separation of one batch of mixes.

    :param tensors: (B, C, h, w) protected tensors mixed within this batch, B >= 2.
    :param seed: FastICA's random start (and the draw of ``samples``).
    :param samples: fit the separation on this many coefficient positions drawn at random from the sparse channels
        (None: all of them); the sources are then unmixed from every position of every channel.
    """
    if tensors.dim() != 4 or len(tensors) < 2:
        raise FreqmixError(f"separation needs a batch of at least 2 protected tensors (B, C, h, w), got shape "
                           f"{tuple(tensors.shape)}")
    b = len(tensors)
    mixtures = tensors.reshape(b, -1).double().numpy()
    fitted = tensors[:, sparse_channels(tensors)].reshape(b, -1).double().numpy()
    if fitted.shape[1] <= b:
        raise FreqmixError(f"a batch of {b} tensors of {mixtures.shape[1]} coefficients each cannot be separated; "
                           "each tensor needs more coefficients than the batch has rows")
    if samples is not None and b < samples < fitted.shape[1]:
        fitted = fitted[:, np.random.default_rng(seed).choice(fitted.shape[1], samples, replace=False)]
    ica = FastICA(n_components=b, whiten="unit-variance", fun=CONTRAST, max_iter=MAX_ITERATIONS, random_state=seed)
    with warnings.catch_warnings():
        # An unconverged separation is still the attacker's best guess; how good it is shows in the scores.
        warnings.simplefilter("ignore", ConvergenceWarning)
        ica.fit(fitted.T)
    mixing = ica.mixing_  # (B mixtures, B sources), for centred unit-variance sources
    largest = np.abs(mixing).argmax(axis=0)
    mixing = mixing * np.sign(mixing[largest, np.arange(b)])
    # The uncentred sources: the mixtures' means belong to the faces too.
    sources = np.linalg.lstsq(mixing, mixtures, rcond=None)[0]
    scale = _source_scales(mixing, sources)
    sources = sources * scale[:, None]
    weights = mixing / scale[None, :]
    return Separation(torch.from_numpy(sources).reshape(tensors.shape).to(tensors.dtype),
                      torch.from_numpy(weights).float(), torch.from_numpy(assign_sources(weights)))


def sparse_channels(tensors: torch.Tensor) -> torch.Tensor:
    """The channels the separation is fitted on: the lowest-energy half (at least :data:`FIT_CHANNELS`, at most
    all). Every channel is mixed with the same weights, so the mixing read off some unmixes all of them; the faces'
    low frequencies are alike from face to face (their DC planes above all), which breaks ICA's independence, while
    the high ones are sparse and independent (ORL, k = 4: fitted on all 64 channels the median correlation is 0.58,
    on the lowest-energy 36 0.99). The energy ranks need no key: a shuffle moves channels, not their energy."""
    channels = tensors.shape[1]
    keep = min(channels, max(FIT_CHANNELS, channels // 2))
    return tensors.double().pow(2).mean(dim=(0, 2, 3)).argsort()[:keep]


def assign_sources(weights: np.ndarray) -> np.ndarray:
    """(B,) int64 the source each row shows, from the recovered (B rows, B sources) weights: one Hungarian
    assignment of the largest total weight over the sources a row holds a real share of (at least
    :data:`MIN_SHARE` of its largest weight), so that each face is shown once; a row the assignment cannot serve
    so shows its largest-weight source. A permutation forced through every weight would let one badly separated
    source push a chain of rows onto faces they do not mix (ORL k = 2: 11–14% of rows)."""
    held = weights >= MIN_SHARE * weights.max(axis=1, keepdims=True)
    rows, cols = linear_sum_assignment(np.where(held, -weights, _UNHELD_COST))
    assignment = cols[np.argsort(rows)]
    unserved = ~held[np.arange(len(weights)), assignment]
    assignment[unserved] = weights[unserved].argmax(axis=1)
    return assignment.astype(np.int64)


def _source_scales(mixing: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(B,) factor of each recovered source: the scales with which every row's weights sum to 1, clamped to the
    batch's spread of energies where the row sums leave them undetermined."""
    inverse, _ = nnls(mixing, np.ones(len(mixing)))  # weights = mixing / scale, so mixing @ (1 / scale) = 1
    rms = np.sqrt((sources ** 2).mean(axis=1))
    scale = np.full(len(rms), np.nan)
    pinned = inverse > 0
    scale[pinned] = 1 / inverse[pinned]
    energy = rms * scale
    median = np.median(energy[pinned]) if pinned.any() else np.median(rms)
    energy = np.where(pinned, np.clip(energy, median / SCALE_SPREAD, median * SCALE_SPREAD), median)
    return energy / np.maximum(rms, 1e-12)
