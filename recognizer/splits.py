"""Splits of a face set: per identity (train / test images) and by identity (private / auxiliary), and the one
split of a run that training and the attacks share (:func:`private_split`); all deterministic from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from recognizer.faces import DataError, FaceDataset


def split_per_identity(
    ds: FaceDataset, train_per_identity: int | None = None, seed: int = 0
) -> tuple[FaceDataset, FaceDataset]:
    """Split every identity's images into train and test (closed-set identification), deterministic from ``seed``.

    :param train_per_identity: train images per identity; default half of each identity's images (rounded down,
        at least 1). Every identity keeps at least one test image.
    :return: ``(train, test)`` with the original labels and names, each in original image order.
    """
    labels = ds.labels.numpy()
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for k in range(ds.num_identities):
        members = np.flatnonzero(labels == k)
        n_train = max(1, len(members) // 2) if train_per_identity is None else train_per_identity
        if len(members) < 2 or not 1 <= n_train < len(members):
            raise DataError(
                f"identity '{ds.names[k]}' has {len(members)} image(s), cannot put {n_train} in train and at least "
                "one in test; drop identities with fewer than 2 images or lower train_per_identity"
            )
        shuffled = rng.permutation(members)
        train_idx.append(shuffled[:n_train])
        test_idx.append(shuffled[n_train:])
    return ds.subset(np.sort(np.concatenate(train_idx))), ds.subset(np.sort(np.concatenate(test_idx)))


def _select_identities(ds: FaceDataset, identities: np.ndarray) -> FaceDataset:
    """The images of ``identities`` (sorted label indices), relabelled 0..len(identities)-1."""
    new_label = np.full(ds.num_identities, -1, dtype=np.int64)
    new_label[identities] = np.arange(len(identities))
    relabelled = new_label[ds.labels.numpy()]
    keep = np.flatnonzero(relabelled >= 0)
    return FaceDataset(
        images=ds.images[keep],
        labels=torch.from_numpy(relabelled[keep]),
        names=[ds.names[k] for k in identities],
        paths=[ds.paths[i] for i in keep],
    )


def split_identities(
    ds: FaceDataset, private_fraction: float = 0.5, seed: int = 0
) -> tuple[FaceDataset, FaceDataset]:
    """Split identities into disjoint private (the defender trains on) and auxiliary (the attacker owns) sets.

    :param private_fraction: share of identities that are private, rounded, at least one identity on each side.
    :return: ``(private, auxiliary)``, each relabelled 0..n-1 with its identities' names.
    """
    if ds.num_identities < 2 or not 0.0 < private_fraction < 1.0:
        raise DataError(
            f"cannot split {ds.num_identities} identities with private_fraction={private_fraction}; need at least 2 "
            "identities and 0 < private_fraction < 1"
        )
    order = np.random.default_rng(seed).permutation(ds.num_identities)
    n_private = min(max(1, round(private_fraction * ds.num_identities)), ds.num_identities - 1)
    return (
        _select_identities(ds, np.sort(order[:n_private])),
        _select_identities(ds, np.sort(order[n_private:])),
    )


@dataclass
class PrivateSplit:
    """The faces of a run: the defender's training and held-out images (of the same, private identities) and the
    attacker's auxiliary identities (disjoint; None when the run trains on every identity)."""

    train: FaceDataset
    test: FaceDataset
    auxiliary: FaceDataset | None


def private_split(
    ds: FaceDataset, private_fraction: float | None = None, train_per_identity: int | None = None, seed: int = 0
) -> PrivateSplit:
    """The one split of a run's data that training and the attacks must agree on: the private identities
    (:func:`split_identities`; every identity when ``private_fraction`` is None), split per identity into train and
    test (:func:`split_per_identity`), and the auxiliary identities; all deterministic from ``seed``."""
    auxiliary = None
    if private_fraction is not None:
        ds, auxiliary = split_identities(ds, private_fraction, seed=seed)
    train, test = split_per_identity(ds, train_per_identity, seed=seed)
    return PrivateSplit(train, test, auxiliary)
