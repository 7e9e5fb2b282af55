"""The batch observer's attack: blind source separation of each observed batch, then the strongest single-tensor
attack on the separated tensors.

Every row of a training batch mixes its own face with k − 1 faces of the same batch (:mod:`mixup_env.masking`), so a
batch of B protected tensors is ``Y = W X``: X the batch's unmixed (k = 1) tensors, W an unknown non-negative B × B
matrix whose rows sum to 1. Linear in the faces, that is blind source separation, and a stock tool solves it:
scikit-learn's FastICA on the B observed tensors (each a mixture, each coefficient position a sample) recovers the
B sources up to order, sign and scale, with no key, no weights and no partners known. The rest comes from what the
method makes public (Kerckhoffs):

- **sign**: mixing weights are positive, so each source takes the sign of its largest mixing-matrix entry;
- **scale**: every row's weights sum to 1, so the scales ``d`` solve ``A d = 1`` for the recovered mixing matrix A
  (non-negative least squares); a scale that the system leaves undetermined (0) or far off is clamped to the batch's
  median energy (on ORL's hybrid mask this rule puts a source within 13–15% of the true tensor's norm, where the
  attacker's mean clean energy puts it within 25–28%);
- **which face a row shows**: the weights that rebuild each mixture from the scaled sources (non-negative least
  squares) say which faces a row mixes; each row is assigned a different one of them by one Hungarian assignment
  (:func:`assign_sources`), so that every face of the batch is shown once and a row's reconstruction is a face mixed
  into it, scored like every reconstruction of a mix against the best-matching face it mixes (ORL, k = 2 … 6: 94–98%
  of rows show a face they mix, 96–99 of 100 faces are shown).

The separated tensors are the ``ppfr`` tensors (k = 1) to the attacker, which then decodes them with the decoder
trained under the k = 1 belief: the white-box attacker under the true key, the black-box attacker under the key it
recovers from the separated tensors' statistics (:func:`attacks.key_recovery.recovered_belief`), which read it
better than mixes do. On ORL (hybrid mask, batches of 32, Dirichlet weights) the median correlation of a true k = 1
tensor with its recovered source is 0.994 at k = 2, 4 and 6, at about 0.1 s per batch on one core.

Tried and left out (same batches): re-solving X with the weights cut to the k largest per row (median correlation
0.85–0.93) and alternating non-negative least squares from the ICA start (0.68–0.96) both lose to FastICA alone;
FastICA's cube contrast reaches 0.89–0.90, its logcosh contrast 0.993–0.994 and its exp contrast, kept, 0.995.

A leaked, shuffled training set (no batch structure) is one pool of N mixtures of N faces: the same separation on
the whole pool (``pooled=True``) recovers the faces less well (median correlation 0.96–0.97 on ORL's 100 private
training faces) at a cost that grows with N².
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment, nnls
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning

from attacks.attack import AttackSetting, Reconstructor, seconds_once
from attacks.decoder_attacks import decoder_black_box, decoder_seconds, decoder_white_box, fit_decoder
from attacks.key_recovery import KeyRecovery, recovered_belief
from attacks.protection import Protection, white_box
from freqmix_base.errors import FreqmixError
from freqmix_base.seeds import sub_seed

CONTRAST = "exp"  # FastICA's non-Gaussianity measure (see the module docstring for the others tried)
MAX_ITERATIONS = 1000
# A recovered source's energy outside [median / SCALE_SPREAD, median × SCALE_SPREAD] of its batch's is a scale the
# row sums did not pin down: the faces of one batch carry energies within about a factor 2 of each other.
SCALE_SPREAD = 3.0
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


def separate(tensors: torch.Tensor, seed: int) -> Separation:
    """Blind separation of one batch of mixes.

    :param tensors: (B, C, h, w) protected tensors mixed within this batch, B >= 2.
    :param seed: FastICA's random start.
    """
    if tensors.dim() != 4 or len(tensors) < 2:
        raise FreqmixError(f"separation needs a batch of at least 2 protected tensors (B, C, h, w), got shape "
                           f"{tuple(tensors.shape)}")
    b = len(tensors)
    mixtures = tensors.reshape(b, -1).double().numpy()
    if mixtures.shape[1] <= b:
        raise FreqmixError(f"a batch of {b} tensors of {mixtures.shape[1]} coefficients each cannot be separated; "
                           "each tensor needs more coefficients than the batch has rows")
    ica = FastICA(n_components=b, whiten="unit-variance", fun=CONTRAST, max_iter=MAX_ITERATIONS, random_state=seed)
    with warnings.catch_warnings():
        # An unconverged separation is still the attacker's best guess; how good it is shows in the scores.
        warnings.simplefilter("ignore", ConvergenceWarning)
        ica.fit(mixtures.T)
    mixing = ica.mixing_  # (B mixtures, B sources), for centred unit-variance sources
    largest = np.abs(mixing).argmax(axis=0)
    mixing = mixing * np.sign(mixing[largest, np.arange(b)])
    # The uncentred sources: the mixtures' means belong to the faces too.
    sources = np.linalg.lstsq(mixing, mixtures, rcond=None)[0]
    scale = _source_scales(mixing, sources)
    sources = sources * scale[:, None]
    # The weights that rebuild each mixture from the scaled sources, non-negative as the method's are.
    weights = np.stack([nnls(sources.T, row)[0] for row in mixtures])
    return Separation(torch.from_numpy(sources).reshape(tensors.shape).to(tensors.dtype),
                      torch.from_numpy(weights).float(), torch.from_numpy(assign_sources(weights)))


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


def separate_batches(tensors: torch.Tensor, batches: list[torch.Tensor], seed: int) -> torch.Tensor:
    """(N, C, h, w) protected tensors and the batches they were mixed in (row indices) -> (N, C, h, w): for each row,
    the unmixed tensor of the source :func:`separate` assigns it."""
    out = torch.empty_like(tensors)
    for number, rows in enumerate(batches):
        separation = separate(tensors[rows], seed + number)
        out[rows] = separation.sources[separation.assignment]
    return out


@dataclass
class BatchUnmixing:
    """A reconstruction attack on whole batches: separate each batch, then reconstruct the separated tensors.

    :param attack: the single-tensor attack on unmixed (k = 1) tensors, e.g. a decoder trained under the k = 1
        belief.
    :param seed: seeds the separations.
    :param pooled: ignore the batches and separate all tensors as one pool (a leaked, shuffled training set).
    :param recovery: what a black-box attacker read off the separated tensors (its channel set and key); None for
        the white-box attacker, who knows them.
    """

    attack: Reconstructor
    seed: int
    pooled: bool = False
    recovery: KeyRecovery | None = None

    def reconstruct_batches(self, tensors: torch.Tensor, batches: list[torch.Tensor]) -> torch.Tensor:
        """(N, C, h, w) protected tensors and their batches -> (N, P, H, W) faces 0..255, row i a face mixed into
        row i."""
        groups = [torch.arange(len(tensors))] if self.pooled else batches
        return self.attack.reconstruct(separate_batches(tensors, groups, self.seed))


def unmixed_belief(belief: Protection) -> Protection:
    """What an attacker believes of the separated tensors: ``belief``'s pipeline and recipe, with nothing mixed."""
    return replace(belief, k_probs={1: 1.0})


def _separation_seed(setting: AttackSetting) -> int:
    return sub_seed(setting.seed, "separation")


def unmix_white_box(setting: AttackSetting) -> Reconstructor:
    """Separate each observed batch, then decode under the true pipeline with nothing mixed. A defense that mixes
    nothing (public: the method is known) leaves nothing to separate: the attack is then the white-box decoder
    itself."""
    if not setting.truth.mixes:
        return decoder_white_box(setting)
    decoder = fit_decoder(setting, unmixed_belief(white_box(setting.truth)), "decoder white-box, unmixed")
    return BatchUnmixing(decoder, _separation_seed(setting))


def unmix_black_box(setting: AttackSetting) -> Reconstructor:
    """Separate each observed batch, recover the channel set and key from the separated tensors' statistics, and
    decode under that belief with nothing mixed (the black-box decoder itself where the defense mixes nothing)."""
    if not setting.truth.mixes:
        return decoder_black_box(setting)
    observed, seed = setting.observed, _separation_seed(setting)
    separated = separate_batches(observed.tensors, observed.batches, seed)
    # Recovered afresh from what the attacker knows of the method (whether it shuffles, among others), not from the
    # belief read off the mixes.
    belief, recovery = recovered_belief(unmixed_belief(setting.guess), separated, setting.auxiliary.images,
                                        sub_seed(setting.seed, "key-recovery"), read_k=False)
    return BatchUnmixing(fit_decoder(setting, belief, "decoder black-box, unmixed"), seed, recovery=recovery)


def unmix_pooled(setting: AttackSetting) -> Reconstructor:
    """The white-box attacker of a leaked, shuffled training set: the whole set separated as one pool."""
    if not setting.truth.mixes:
        return decoder_white_box(setting)
    decoder = fit_decoder(setting, unmixed_belief(white_box(setting.truth)), "decoder white-box, unmixed")
    return BatchUnmixing(decoder, _separation_seed(setting), pooled=True)


def unmix_white_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds: the decoder under the unmixed truth, unless one is shared (e.g. trained for ``ppfr``)."""
    belief = unmixed_belief(white_box(setting.truth)) if setting.truth.mixes else white_box(setting.truth)
    return seconds_once(setting, "decoder", belief, decoder_seconds(setting), before=(setting.truth,))


def unmix_black_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds: nothing when the key read off the separated tensors is the true one (its decoder is then
    the white-box one), which is what the estimate assumes."""
    return 0.0
