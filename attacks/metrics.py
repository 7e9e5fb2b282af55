"""Attack metrics: image fidelity (PSNR from scikit-image, SSIM from :mod:`mixup_env.ssim`), identity leakage
(accuracy, top-k, KNN feature distance) and the privacy scores S1–S4, ``score_pp`` and ``score_cls``.

The paper (arXiv 2403.10558) does not publish its score formulas, only the weights 0.4 (visual level) and 0.6
(attack level); the formulas below are this project's reconstruction, written out in ``docs/privacy_metrics.md``.
All scores lie in [0, 1] and **higher means more private**.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

from freqmix_base.errors import FreqmixError
from mixup_env.ssim import DATA_RANGE
from mixup_env.ssim import ssim as tensor_ssim

MAX_PSNR = 100.0  # dB; identical images have infinite PSNR, which JSON cannot hold
PSNR_LOW, PSNR_HIGH = 10.0, 30.0  # dB; S2 is 1 at or below PSNR_LOW, 0 at or above PSNR_HIGH
VISUAL_WEIGHT, ATTACK_WEIGHT = 0.4, 0.6  # the paper's weights
TOP_K = 5


class ImageRangeError(FreqmixError):
    """Images on a 0..1 scale given where 0..255 is expected."""


def _numpy_images(images: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim != 4:
        raise FreqmixError(f"expected images (N, C, H, W), got shape {arr.shape}")
    # A 0..255 face never peaks at or below 1 grey level; 0..1 images would score ~60 dB and SSIM ~1 here.
    if np.issubdtype(arr.dtype, np.floating) and arr.size and 0 < np.max(np.abs(arr)) <= 1.0:
        raise ImageRangeError(f"{name} look like 0..1 floats (largest |value| {np.max(np.abs(arr)):.3g}); the "
                              f"metrics expect 0..255, so multiply them by 255")
    return arr.astype(np.float64)


def psnr(reconstructions: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N,) PSNR in dB of each reconstruction (N, C, H, W) against its target, both 0..255; capped at MAX_PSNR."""
    rec, tgt = _numpy_images(reconstructions, "reconstructions"), _numpy_images(targets, "targets")
    if rec.shape != tgt.shape:
        raise FreqmixError(f"reconstructions {rec.shape} and targets {tgt.shape} differ in shape")
    out = np.empty(len(rec))
    for i in range(len(rec)):
        if np.array_equal(rec[i], tgt[i]):
            out[i] = MAX_PSNR
        else:
            out[i] = min(MAX_PSNR, peak_signal_noise_ratio(tgt[i], rec[i], data_range=DATA_RANGE))
    return out


def ssim(reconstructions: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N,) SSIM of each reconstruction (N, C, H, W) against its target, both 0..255, in float64 (scikit-image's
    definition: 7×7 uniform window; colour images average the per-channel SSIM)."""
    rec, tgt = _numpy_images(reconstructions, "reconstructions"), _numpy_images(targets, "targets")
    if rec.shape != tgt.shape:
        raise FreqmixError(f"reconstructions {rec.shape} and targets {tgt.shape} differ in shape")
    return tensor_ssim(torch.from_numpy(rec), torch.from_numpy(tgt)).numpy()


def component_scores(reconstructions: torch.Tensor, images: torch.Tensor, components: torch.Tensor,
                     weights: torch.Tensor) -> dict[str, np.ndarray]:
    """Score each reconstruction of a mixed tensor against every image mixed into it.

    :param reconstructions: (N, C, H, W) 0..255, row i reconstructs protected tensor i.
    :param images: (M, C, H, W) 0..255, the images the components index.
    :param components: (N, kmax) int64 indices into ``images``, -1 = no component.
    :param weights: (N, kmax) mixing weights (0 for padding).
    :return: per row (N,): ``psnr_best``, ``ssim_best`` (the component with the highest SSIM), ``best`` (its index
        into ``images``), ``psnr_dominant``, ``ssim_dominant`` (the component with the largest weight), ``dominant``.
    """
    n, kmax = components.shape
    ssim_all = np.full((n, kmax), -np.inf)
    psnr_all = np.full((n, kmax), -np.inf)
    for j in range(kmax):
        rows = (components[:, j] >= 0).nonzero().flatten()
        if len(rows):
            targets = images[components[rows, j]]
            ssim_all[rows.numpy(), j] = ssim(reconstructions[rows], targets)
            psnr_all[rows.numpy(), j] = psnr(reconstructions[rows], targets)
    rows = np.arange(n)
    best = ssim_all.argmax(axis=1)
    dominant = weights.masked_fill(components < 0, -1.0).argmax(dim=1).numpy()
    comp = components.numpy()
    return {"ssim_best": ssim_all[rows, best], "psnr_best": psnr_all[rows, best], "best": comp[rows, best],
            "ssim_dominant": ssim_all[rows, dominant], "psnr_dominant": psnr_all[rows, dominant],
            "dominant": comp[rows, dominant]}


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, k: int = 1) -> np.ndarray:
    """(N,) 1.0 where the row's label is among the ``k`` largest logits (N, K), else 0.0; ``k`` is capped at K."""
    if logits.ndim != 2 or labels.shape != (len(logits),):
        raise FreqmixError(f"expected logits (N, K) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return (top == labels[:, None]).any(dim=1).double().numpy()


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Share of rows whose label is among the ``k`` largest logits (N, K); ``k`` is capped at K."""
    return float(topk_hits(logits, labels, k).mean())


def knn_distances(query_emb: torch.Tensor, query_labels: torch.Tensor, gallery_emb: torch.Tensor,
                  gallery_labels: torch.Tensor) -> np.ndarray:
    """(N,) Euclidean distance of each query embedding (N, D) to the nearest gallery embedding of its identity."""
    distances = torch.cdist(query_emb.double(), gallery_emb.double())
    same = query_labels[:, None] == gallery_labels[None, :]
    if not same.any(dim=1).all():
        raise FreqmixError("every query identity needs at least one gallery embedding")
    return distances.masked_fill(~same, math.inf).min(dim=1).values.numpy()


def knn_distance(query_emb: torch.Tensor, query_labels: torch.Tensor, gallery_emb: torch.Tensor,
                 gallery_labels: torch.Tensor) -> float:
    """Mean over queries of :func:`knn_distances` (GMI's "KNN Dist"); pass L2-normalised embeddings (N, D) so that
    it lies in [0, 2]. Lower = closer to the private faces."""
    return float(knn_distances(query_emb, query_labels, gallery_emb, gallery_labels).mean())


def _above_chance(accuracy: float, chance: float) -> float:
    """0 at or below chance, 1 at perfect accuracy, linear in between."""
    return float(np.clip((accuracy - chance) / (1.0 - chance), 0.0, 1.0)) if chance < 1 else 0.0


def privacy_scores(ssim_value: float, psnr_value: float, recon_id_accuracy: float, mia_top5: float,
                   num_identities: int) -> dict[str, float]:
    """S1–S4 and ``score_pp`` (higher = more private), from the strongest reconstruction and inversion attacks.

    - S1 = 1 − SSIM, clipped to [0, 1] (visual: structure recovered);
    - S2 = (PSNR_HIGH − PSNR) / (PSNR_HIGH − PSNR_LOW), clipped (visual: pixel fidelity);
    - S3 = 1 − (acc − 1/K) / (1 − 1/K), clipped (attack: reconstructions identified, K private identities);
    - S4 = 1 − (top5 − c5) / (1 − c5), clipped, c5 = min(5, K)/K (attack: model inversion top-5);
    - score_pp = 0.4 · (S1 + S2)/2 + 0.6 · (S3 + S4)/2.
    """
    s1 = float(np.clip(1.0 - ssim_value, 0.0, 1.0))
    s2 = float(np.clip((PSNR_HIGH - psnr_value) / (PSNR_HIGH - PSNR_LOW), 0.0, 1.0))
    s3 = 1.0 - _above_chance(recon_id_accuracy, 1.0 / num_identities)
    s4 = 1.0 - _above_chance(mia_top5, min(TOP_K, num_identities) / num_identities)
    visual, attack = (s1 + s2) / 2, (s3 + s4) / 2
    return {"S1": s1, "S2": s2, "S3": s3, "S4": s4, "visual_level": visual, "attack_level": attack,
            "score_pp": VISUAL_WEIGHT * visual + ATTACK_WEIGHT * attack}


def score_cls(identification_accuracy: float, reference_accuracy: float) -> float:
    """Utility relative to no defense: identification accuracy / that of the ``none`` defense (same data, budget
    and seed). May exceed 1 when a defense regularises."""
    if reference_accuracy <= 0:
        raise FreqmixError(f"the reference (no-defense) accuracy must be > 0 to compare with, got {reference_accuracy}")
    return identification_accuracy / reference_accuracy
