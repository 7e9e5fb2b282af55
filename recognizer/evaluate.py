"""Face recognition metrics on embeddings: closed-set identification and pair verification.

All scores are cosine similarities; embeddings need not be normalised (they are normalised here).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import KFold

__all__ = ["identification_accuracy", "verification"]

_FARS = (1e-2, 1e-3)


def _normalise(emb: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(emb.detach().cpu() if isinstance(emb, torch.Tensor) else emb, dtype=np.float64)
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array of embeddings, got shape {arr.shape}")
    return arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)


def _labels(labels: torch.Tensor | np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries for {n} embeddings; give one per embedding")
    return arr


def identification_accuracy(
    gallery_emb: torch.Tensor | np.ndarray,
    gallery_labels: torch.Tensor | np.ndarray,
    probe_emb: torch.Tensor | np.ndarray,
    probe_labels: torch.Tensor | np.ndarray,
) -> float:
    """Closed-set rank-1 accuracy in [0, 1] by nearest class centroid under cosine similarity.

    Each class centroid is the mean of its L2-normalised gallery embeddings ``(Ng, D)``, renormalised;
    each probe ``(Np, D)`` takes the label of the most similar centroid (ties: the smallest label).
    Every probe label must appear in the gallery (closed set).
    """
    gallery, probe = _normalise(gallery_emb, "gallery_emb"), _normalise(probe_emb, "probe_emb")
    if gallery.shape[1] != probe.shape[1]:
        raise ValueError(f"gallery and probe embeddings differ in size: {gallery.shape[1]} vs {probe.shape[1]}")
    g_labels = _labels(gallery_labels, len(gallery), "gallery_labels")
    p_labels = _labels(probe_labels, len(probe), "probe_labels")
    classes, index = np.unique(g_labels, return_inverse=True)
    missing = np.setdiff1d(p_labels, classes)
    if len(missing):
        raise ValueError(f"probe labels {missing[:5].tolist()} have no gallery images; closed-set "
                         "identification needs every probe identity in the gallery")
    centroids = np.zeros((len(classes), gallery.shape[1]))
    np.add.at(centroids, index, gallery)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    predicted = classes[np.argmax(probe @ centroids.T, axis=1)]
    return float(np.mean(predicted == p_labels))


def _best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy of "same iff score > t"; candidates are midpoints between distinct
    scores plus one below and one above all of them; ties go to the smallest threshold."""
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    pos, neg = np.sort(scores[same]), np.sort(scores[~same])
    accepted_pos = len(pos) - np.searchsorted(pos, candidates, side="right")
    correct = accepted_pos + np.searchsorted(neg, candidates, side="right")
    return float(candidates[np.argmax(correct)])


def _tar_at_far(fpr: np.ndarray, tpr: np.ndarray, far: float, n_neg: int) -> float:
    """TPR at ``far`` read off the ROC polyline (``fpr`` non-decreasing, all thresholds kept).

    When ``far < 1 / n_neg`` no threshold reaches that FAR with a false accept, so the TPR at the largest
    FPR <= ``far`` (i.e. at FPR 0) is reported instead of interpolating towards ``1 / n_neg``.
    """
    j = int(np.searchsorted(fpr, far, side="right")) - 1  # last ROC point with FPR <= far
    if far * n_neg < 1 or fpr[j] == far or j == len(fpr) - 1:
        return float(tpr[j])
    t = (far - fpr[j]) / (fpr[j + 1] - fpr[j])
    return float(tpr[j] + t * (tpr[j + 1] - tpr[j]))


def verification(
    emb_a: torch.Tensor | np.ndarray,
    emb_b: torch.Tensor | np.ndarray,
    same: torch.Tensor | np.ndarray,
    folds: int = 10,
    seed: int = 0,
) -> dict[str, float | dict[float, float]]:
    """Pair verification by cosine similarity of ``emb_a[i]`` and ``emb_b[i]`` (both ``(N, D)``).

    Accuracy follows the LFW protocol: ``KFold(min(folds, N), shuffle, seed)``; for each fold the
    threshold maximising accuracy on the other folds (see ``_best_threshold``) classifies the held-out
    pairs. TAR@FAR and AUC come from one ROC over all pairs.

    :param same: ``(N,)`` bool, True where the pair shows one identity; both kinds must occur.
    :return: ``accuracy`` (mean over folds) and ``accuracy_std`` (population std over folds), ``threshold``
        (mean of the fold thresholds, on cosine similarity), ``tar_at_far`` ``{1e-2: tar, 1e-3: tar}``
        (see ``_tar_at_far`` for too few negative pairs) and ``auc``.
    """
    a, b = _normalise(emb_a, "emb_a"), _normalise(emb_b, "emb_b")
    if a.shape != b.shape:
        raise ValueError(f"emb_a and emb_b must have the same shape, got {a.shape} and {b.shape}")
    same = _labels(same, len(a), "same").astype(bool)
    if folds < 2:
        raise ValueError(f"folds must be >= 2 for cross-validated accuracy, got {folds}")
    if len(a) < 2:
        raise ValueError(f"verification needs at least 2 pairs, got {len(a)}")
    n_pos = int(same.sum())
    n_neg = len(same) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("verification needs both same-identity and different-identity pairs")
    scores = np.sum(a * b, axis=1)

    accuracies, thresholds = [], []
    kfold = KFold(n_splits=min(folds, len(scores)), shuffle=True, random_state=seed)
    for train, test in kfold.split(scores):
        threshold = _best_threshold(scores[train], same[train])
        accuracies.append(np.mean((scores[test] > threshold) == same[test]))
        thresholds.append(threshold)

    fpr, tpr, _ = roc_curve(same, scores, drop_intermediate=False)
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "threshold": float(np.mean(thresholds)),
        "tar_at_far": {far: _tar_at_far(fpr, tpr, far, n_neg) for far in _FARS},
        "auc": float(roc_auc_score(same, scores)),
    }
