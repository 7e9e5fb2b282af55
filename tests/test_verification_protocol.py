"""Verification protocol: the pairs file's folds, VAL@FAR as insightface's calculate_val, insightface's accuracy."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold

from recognizer.accuracy import fold_splits, insightface_verification, verification
from recognizer.faces import UnusablePairsError
from recognizer.pairs import load_lfw_pairs

# Squared L2 distances of eight unit pairs; folds 0 (pairs 0-3) and 1 (pairs 4-7), two same + two different each.
DIST = np.array([0.1, 0.8007, 1.0004, 2.0004, 0.2, 1.5, 0.8004, 3.0])
SAME = np.array([True, True, False, False, True, True, False, False])
FOLD = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def _pairs_at(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit 2-d embeddings whose squared distance is ``dist``: (1, 0) against the angle with cos = 1 - d/2."""
    cos = 1 - dist / 2
    a = np.tile([1.0, 0.0], (len(dist), 1))
    b = np.stack([cos, np.sqrt(1 - cos**2)], axis=1)
    return a, b


def test_val_at_far_follows_calculate_val_by_hand() -> None:
    # Target 0.25, split 1 trains on fold 1 (negatives 0.8004, 3.0): grid FAR is 0 at 0.800 and 0.5 at 0.801, so the
    # threshold is 0.800 + 0.25/0.5 * 0.001 = 0.8005; fold 0 accepts 0.1 but not 0.8007 -> VAL 0.5, FAR 0. Split 2
    # trains on fold 0: threshold 1.0005; fold 1 accepts 0.2 and the negative 0.8004 -> VAL 0.5, FAR 0.5.
    # Target 0.5 is reached exactly at 0.801 (then 1.001): fold 0 accepts 0.8007 too -> VAL 1.0.
    result = insightface_verification(*_pairs_at(DIST), SAME, folds=2, far_targets=(0.25, 0.5))
    assert result["val_at_far"][0.25] == pytest.approx({"val": 0.5, "val_std": 0.0, "far": 0.25})
    assert result["val_at_far"][0.5] == pytest.approx({"val": 0.75, "val_std": 0.25, "far": 0.25})


def _reference_calculate_roc_accuracy(emb1: np.ndarray, emb2: np.ndarray, issame: np.ndarray) -> np.ndarray:
    """insightface's calculate_roc (eval/verification.py) reduced to its accuracy, written as its loops are."""
    thresholds = np.arange(0, 4, 0.01)
    emb1 = emb1 / np.linalg.norm(emb1, axis=1, keepdims=True)
    emb2 = emb2 / np.linalg.norm(emb2, axis=1, keepdims=True)
    dist = np.sum(np.square(np.subtract(emb1, emb2)), 1)
    accuracy = np.zeros(10)
    for fold_idx, (train_set, test_set) in enumerate(KFold(n_splits=10, shuffle=False).split(np.arange(len(dist)))):
        acc_train = np.zeros(len(thresholds))
        for threshold_idx, threshold in enumerate(thresholds):
            predict = np.less(dist[train_set], threshold)
            acc_train[threshold_idx] = np.sum(predict == issame[train_set]) / len(train_set)
        best = np.argmax(acc_train)
        accuracy[fold_idx] = np.sum(np.less(dist[test_set], thresholds[best]) == issame[test_set]) / len(test_set)
    return accuracy


def test_insightface_accuracy_matches_its_reference_loops() -> None:
    rng = np.random.default_rng(0)
    same = rng.random(203) < 0.5  # 203: folds of 21 and 20 pairs, as KFold deals them
    a = rng.normal(size=(203, 16))
    b = np.where(same[:, None], a + rng.normal(scale=0.9, size=a.shape), rng.normal(size=a.shape))
    reference = _reference_calculate_roc_accuracy(a, b, same)
    result = insightface_verification(a, b, same)
    assert 0.6 < result["accuracy"] < 1.0  # the data are neither trivial nor noise
    assert result["accuracy"] == pytest.approx(reference.mean())
    assert result["accuracy_std"] == pytest.approx(reference.std())


def test_verification_holds_out_the_files_folds() -> None:
    # Cosine scores s = 1 - d/2. Split 1 trains on fold 1 (-0.5 d, 0.25 s, 0.5998 d, 0.9 s): thresholds -0.125 and
    # 0.7499 both reach 3/4, the smaller wins; on fold 0 it accepts both negatives -> 0.5. Split 2 trains on fold 0,
    # separable at (0.4998 + 0.59965) / 2 = 0.549725; on fold 1 it rejects 0.25 and accepts 0.5998 -> 0.5.
    result = verification(*_pairs_at(DIST), SAME, fold=FOLD)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["threshold"] == pytest.approx((-0.125 + 0.549725) / 2)
    # VAL@FAR=1e-2: thresholds 0.800 + 0.01/0.5 * 0.001 and 1.000 + ...; each held-out fold accepts one same pair.
    assert result["val_at_far_insightface"][1e-2] == pytest.approx(0.5)
    # The pooled ROC instead: at FAR 1e-2 (no false accept among 4 negatives) the best TPR is 0.5 (0.95 and 0.9).
    assert result["tar_at_far"][1e-2] == pytest.approx(0.5)


def test_fold_splits_use_given_folds_or_file_order() -> None:
    splits = fold_splits(6, fold=np.array([2, 2, 0, 0, 1, 1]))
    assert [test.tolist() for _, test in splits] == [[2, 3], [4, 5], [0, 1]]
    assert [train.tolist() for train, _ in splits][0] == [0, 1, 4, 5]
    in_order = fold_splits(7, folds=3)
    assert [test.tolist() for _, test in in_order] == [[0, 1, 2], [3, 4], [5, 6]]
    with pytest.raises(ValueError, match="needs at least 2"):
        fold_splits(3, fold=np.zeros(3))


def test_a_pairs_file_with_one_kind_of_pair_is_an_error(tmp_path, lfw_tree) -> None:
    root = lfw_tree
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("Ann\t1\t2\nBob\t1\t2\nAnn\t1\tZed\t1\n")  # two same pairs; the different one is missing
    with pytest.raises(UnusablePairsError, match=r"only same-person pairs .* \(2 usable, 1 skipped\)") as info:
        load_lfw_pairs(pairs_file, root, image_size=16)
    assert "\n" not in str(info.value)
    assert load_lfw_pairs(pairs_file, root, image_size=16, require_both_kinds=False).same.tolist() == [True, True]
    pairs_file.write_text("2\t1\nAnn\t1\t2\nAnn\t1\tBob\t2\nBob\t1\t2\nAnn\t2\tBob\t1\n")
    assert load_lfw_pairs(pairs_file, root, image_size=16).fold.tolist() == [0, 0, 1, 1]  # the header's folds
