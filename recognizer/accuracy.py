"""Face recognition metrics on embeddings: closed-set identification and pair verification.

All scores are cosine similarities; embeddings need not be normalised (they are normalised here). Two TAR@FAR
figures are reported and named apart, because they are not comparable: ``tar_at_far`` reads one ROC pooled over all
pairs; ``val_at_far_insightface`` picks the threshold on nine folds and measures the tenth, as insightface's and
FaceNet's ``calculate_val`` do (the figure papers quote as VAL@FAR).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import KFold

__all__ = ["identification_accuracy", "verification", "insightface_verification", "fold_splits"]

_FARS = (1e-2, 1e-3)
# insightface's threshold grids on the squared L2 distance of unit embeddings (0..4): coarse for accuracy, fine
# for VAL@FAR (eval/verification.py, evaluate()).
ACCURACY_THRESHOLDS = np.arange(0, 4, 0.01)
VAL_THRESHOLDS = np.arange(0, 4, 0.001)


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


def fold_splits(n: int, fold: torch.Tensor | np.ndarray | None = None, folds: int = 10,
                shuffle_seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation ``(train, test)`` index arrays over ``n`` pairs.

    With ``fold`` (``(n,)`` fold id per pair, e.g. the folds an LFW ``pairs.txt`` carries) each distinct fold is held
    out once; otherwise ``KFold(min(folds, n))``, in file order (insightface) or shuffled by ``shuffle_seed``.
    """
    if fold is not None:
        ids = _labels(fold, n, "fold")
        distinct = np.unique(ids)
        if len(distinct) < 2:
            raise ValueError(f"the pairs carry {len(distinct)} fold; cross-validation needs at least 2")
        return [(np.flatnonzero(ids != f), np.flatnonzero(ids == f)) for f in distinct]
    if folds < 2:
        raise ValueError(f"folds must be >= 2 for cross-validated accuracy, got {folds}")
    kfold = KFold(n_splits=min(folds, n), shuffle=shuffle_seed is not None, random_state=shuffle_seed)
    return list(kfold.split(np.arange(n)))


def _val_far(threshold: float, dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(VAL, FAR) of "same iff squared distance < threshold" (insightface's calculate_val_far); NaN for a rate
    without pairs to measure it on (insightface divides by zero there)."""
    accept = dist < threshold
    n_same, n_diff = int(np.sum(same)), int(np.sum(~same))
    val = np.sum(accept & same) / n_same if n_same else np.nan
    far = np.sum(accept & ~same) / n_diff if n_diff else np.nan
    return float(val), float(far)


def _threshold_at_far(dist: np.ndarray, same: np.ndarray, far_target: float) -> float:
    """The distance threshold whose FAR on these pairs is ``far_target``, as insightface's calculate_val finds it:
    FAR at every threshold of :data:`VAL_THRESHOLDS`, linear interpolation of threshold against FAR at the target,
    0 when no grid threshold reaches it.

    insightface calls ``interp1d(far_train, thresholds, kind="slinear")``, which current SciPy refuses because FAR
    repeats along the grid; the same straight line between the two grid thresholds that bracket the target (the
    largest below it, the first at or above) is computed here instead.
    """
    dist_sorted = np.sort(dist[~same])
    # FAR(t) = share of different-identity pairs with distance < t, for every grid t at once.
    far = np.searchsorted(dist_sorted, VAL_THRESHOLDS, side="left") / max(len(dist_sorted), 1)
    if far.max() < far_target:
        return 0.0
    hi = int(np.argmax(far >= far_target))
    if hi == 0 or far[hi] == far_target:
        return float(VAL_THRESHOLDS[hi])
    lo = hi - 1
    slope = (VAL_THRESHOLDS[hi] - VAL_THRESHOLDS[lo]) / (far[hi] - far[lo])
    return float(VAL_THRESHOLDS[lo] + (far_target - far[lo]) * slope)


def _val_at_far(dist: np.ndarray, same: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]],
                far_target: float) -> dict[str, float]:
    """VAL@FAR as insightface's ``calculate_val``: per split the threshold reaching ``far_target`` on the training
    folds, VAL and FAR measured on the held-out fold; means (and VAL's population std) over the splits whose
    held-out fold has pairs of that kind."""
    vals, fars = [], []
    for train, test in splits:
        val, far = _val_far(_threshold_at_far(dist[train], same[train], far_target), dist[test], same[test])
        vals.append(val)
        fars.append(far)
    vals, fars = np.array(vals), np.array(fars)
    vals, fars = vals[~np.isnan(vals)], fars[~np.isnan(fars)]
    return {"val": float(np.mean(vals)), "val_std": float(np.std(vals)), "far": float(np.mean(fars))}


def _pair_inputs(emb_a, emb_b, same) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - public callers type them
    """Squared L2 distances ``(N,)`` of the normalised pairs (0..4) and ``same`` as bool, validated."""
    a, b = _normalise(emb_a, "emb_a"), _normalise(emb_b, "emb_b")
    if a.shape != b.shape:
        raise ValueError(f"emb_a and emb_b must have the same shape, got {a.shape} and {b.shape}")
    same = _labels(same, len(a), "same").astype(bool)
    if len(a) < 2:
        raise ValueError(f"verification needs at least 2 pairs, got {len(a)}")
    if same.all() or not same.any():
        raise ValueError("verification needs both same-identity and different-identity pairs")
    return np.sum((a - b) ** 2, axis=1), same


def insightface_verification(
    emb_a: torch.Tensor | np.ndarray,
    emb_b: torch.Tensor | np.ndarray,
    same: torch.Tensor | np.ndarray,
    folds: int = 10,
    far_targets: tuple[float, ...] = (1e-3,),
) -> dict[str, float | dict[float, dict[str, float]]]:
    """insightface's verification protocol (``eval/verification.py``: ``calculate_roc`` and ``calculate_val``).

    Pairs ``emb_a[i]``/``emb_b[i]`` (``(N, D)``, normalised here) are compared by squared L2 distance; ``KFold(folds)``
    in file order (no shuffle); per fold the threshold of :data:`ACCURACY_THRESHOLDS` with the best training
    accuracy (first on ties) classifies the held-out pairs as "same iff distance < threshold". insightface adds the
    embedding of the flipped image to each embedding before calling this; do the same to match its figures.

    :return: ``accuracy`` and ``accuracy_std`` over folds, ``best_threshold`` (mean over folds, squared distance)
        and ``val_at_far`` ``{far_target: {"val", "val_std", "far"}}`` (``far``: mean FAR reached on held-out folds).
    """
    dist, same = _pair_inputs(emb_a, emb_b, same)
    splits = fold_splits(len(dist), folds=folds)
    accuracies, thresholds = [], []
    for train, test in splits:
        # Accuracy of every grid threshold on the training folds at once: (thresholds, pairs) boolean table.
        accept = dist[train][None, :] < ACCURACY_THRESHOLDS[:, None]
        best = int(np.argmax(np.mean(accept == same[train][None, :], axis=1)))
        accuracies.append(np.mean((dist[test] < ACCURACY_THRESHOLDS[best]) == same[test]))
        thresholds.append(ACCURACY_THRESHOLDS[best])
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "best_threshold": float(np.mean(thresholds)),
        "val_at_far": {far: _val_at_far(dist, same, splits, far) for far in far_targets},
    }


def verification(
    emb_a: torch.Tensor | np.ndarray,
    emb_b: torch.Tensor | np.ndarray,
    same: torch.Tensor | np.ndarray,
    folds: int = 10,
    seed: int = 0,
    fold: torch.Tensor | np.ndarray | None = None,
) -> dict[str, float | dict[float, float]]:
    """Pair verification by cosine similarity of ``emb_a[i]`` and ``emb_b[i]`` (both ``(N, D)``).

    Accuracy follows the LFW protocol: with ``fold`` (the folds of an LFW ``pairs.txt``, ``PairSet.fold``) each
    fold is held out once; without it ``KFold(min(folds, N), shuffle, seed)``. For each held-out fold the threshold
    maximising accuracy on the other folds (see ``_best_threshold``) classifies its pairs. ``tar_at_far`` and AUC
    come from one ROC pooled over all pairs; ``val_at_far_insightface`` uses the same folds as accuracy, the
    threshold chosen on the training folds as insightface's ``calculate_val`` does (see ``_threshold_at_far``).

    :param same: ``(N,)`` bool, True where the pair shows one identity; both kinds must occur.
    :param fold: ``(N,)`` fold id per pair; overrides ``folds`` and ``seed``.
    :return: ``accuracy`` (mean over folds) and ``accuracy_std`` (population std over folds), ``threshold``
        (mean of the fold thresholds, on cosine similarity), ``tar_at_far`` ``{1e-2: tar, 1e-3: tar}`` (pooled
        ROC; see ``_tar_at_far`` for too few negative pairs), ``val_at_far_insightface`` ``{1e-2: val, 1e-3: val}``
        (mean over held-out folds) and ``auc``.
    """
    dist, same = _pair_inputs(emb_a, emb_b, same)
    scores = 1.0 - dist / 2  # cosine similarity of unit vectors
    n_neg = int((~same).sum())
    splits = fold_splits(len(scores), fold, folds, shuffle_seed=seed)

    accuracies, thresholds = [], []
    for train, test in splits:
        threshold = _best_threshold(scores[train], same[train])
        accuracies.append(np.mean((scores[test] > threshold) == same[test]))
        thresholds.append(threshold)

    fpr, tpr, _ = roc_curve(same, scores, drop_intermediate=False)
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "threshold": float(np.mean(thresholds)),
        "tar_at_far": {far: _tar_at_far(fpr, tpr, far, n_neg) for far in _FARS},
        "val_at_far_insightface": {far: _val_at_far(dist, same, splits, far)["val"] for far in _FARS},
        "auc": float(roc_auc_score(same, scores)),
    }
