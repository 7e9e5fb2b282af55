"""Identification and verification metrics against answers worked out by hand."""

import math

import numpy as np
import pytest
import torch

from recognizer.accuracy import identification_accuracy, verification


def _at(*degrees: float) -> np.ndarray:
    """Unit 2-D embeddings at the given angles (degrees), scaled to show normalisation is applied."""
    rad = np.radians(degrees)
    return 3.0 * np.stack([np.cos(rad), np.sin(rad)], axis=1)


def test_identification_uses_class_centroids_not_nearest_neighbours() -> None:
    # Class 7 spans 0..90 deg (centroid 45), class 2 sits at 100..110 (centroid 105). A probe at 80 deg
    # is nearest to the 90-deg gallery image of class 7 but to the centroid of class 2.
    gallery = _at(0, 90, 100, 110)
    labels = np.array([7, 7, 2, 2])
    probes = _at(80, 10, 120, 50)
    assert identification_accuracy(gallery, labels, probes, np.array([2, 7, 2, 7])) == 1.0
    assert identification_accuracy(gallery, labels, probes, np.array([7, 7, 2, 2])) == 0.5
    as_tensors = [torch.tensor(v) for v in (gallery, labels, probes, [7, 7, 2, 2])]
    assert identification_accuracy(*as_tensors) == 0.5


def test_identification_rejects_probe_identities_missing_from_the_gallery() -> None:
    with pytest.raises(ValueError, match="gallery"):
        identification_accuracy(_at(0, 90), np.array([0, 1]), _at(10), np.array([5]))
    with pytest.raises(ValueError, match="entries"):
        identification_accuracy(_at(0, 90), np.array([0]), _at(10), np.array([0]))


def _pairs(scores: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose cosine similarities are exactly ``scores``."""
    return _at(*([0.0] * len(scores))), _at(*np.degrees(np.arccos(scores)))


def test_perfectly_separable_pairs_verify_perfectly() -> None:
    rng = np.random.default_rng(0)
    same = np.arange(40) % 2 == 0
    scores = np.where(same, rng.uniform(0.6, 0.9, 40), rng.uniform(-0.5, 0.4, 40))
    result = verification(*_pairs(scores.tolist()), same)
    assert result["accuracy"] == 1.0 and result["accuracy_std"] == 0.0
    assert 0.4 <= result["threshold"] <= 0.6
    assert result["auc"] == 1.0 and result["tar_at_far"] == {1e-2: 1.0, 1e-3: 1.0}


def test_leave_one_out_thresholds_and_accuracy_by_hand() -> None:
    # same: 0.9 0.8 0.3, different: 0.5 0.1 -0.2; 6 pairs < 10 folds -> leave-one-out, whatever the shuffle.
    # Held-out pair -> best threshold on the other five (smallest on ties) -> correct?
    #   0.9 S -> 0.2 yes | 0.8 S -> 0.2 yes | 0.3 S -> 0.65 no | 0.5 D -> 0.2 no | 0.1 D -> 0.05 no | -0.2 D -> 0.2 yes
    scores = [0.9, 0.8, 0.3, 0.5, 0.1, -0.2]
    same = np.array([True, True, True, False, False, False])
    result = verification(*_pairs(scores), same, folds=10, seed=5)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["accuracy_std"] == pytest.approx(0.5)
    assert result["threshold"] == pytest.approx((0.2 * 4 + 0.65 + 0.05) / 6)
    # 3 negatives cannot resolve FAR 1e-2: TAR at FPR 0 (scores 0.9 and 0.8 accepted before 0.5) = 2/3.
    assert result["tar_at_far"][1e-2] == pytest.approx(2 / 3)
    assert result["tar_at_far"][1e-3] == pytest.approx(2 / 3)
    assert result["auc"] == pytest.approx(8 / 9)


def test_tar_at_far_interpolates_along_a_tied_roc_segment() -> None:
    # 50 positives at 0.9, 50 positives and 4 negatives tied at 0.5, 196 negatives at 0.0.
    # ROC points: (0, 0) -> (0, 0.5) -> (0.02, 1.0) -> (1, 1). FAR 1e-2 lies halfway along the tied
    # segment: TAR 0.75. FAR 1e-3 < 1/200 negatives: TAR at FPR 0 = 0.5.
    scores = [0.9] * 50 + [0.5] * 50 + [0.5] * 4 + [0.0] * 196
    same = np.array([True] * 100 + [False] * 200)
    result = verification(*_pairs(scores), same)
    assert result["tar_at_far"][1e-2] == pytest.approx(0.75)
    assert result["tar_at_far"][1e-3] == pytest.approx(0.5)


def test_verification_is_reproducible_from_the_seed() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(60, 8)), rng.normal(size=(60, 8))
    same = rng.random(60) < 0.5
    assert verification(a, b, same, seed=3) == verification(a, b, same, seed=3)
    assert math.isfinite(verification(a, b, same, seed=4)["accuracy"])


def test_verification_rejects_unusable_input() -> None:
    a = _at(0, 10, 20)
    with pytest.raises(ValueError, match="at least 2"):
        verification(a[:1], a[:1], np.array([True]))
    with pytest.raises(ValueError, match="both"):
        verification(a, a, np.array([True, True, True]))
    with pytest.raises(ValueError, match="same shape"):
        verification(a, a[:2], np.array([True, False, True]))
    with pytest.raises(ValueError, match="folds"):
        verification(a, a, np.array([True, False, True]), folds=1)
