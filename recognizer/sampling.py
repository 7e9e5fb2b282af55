"""The order in which a recognizer meets its training faces, epoch by epoch.

``shuffle``: each epoch is a random permutation of the faces, so an identity's share of every batch is its share of
the data. ``balanced``: each identity fills an equal share of every epoch (the epoch keeps its length, one slot per
face), its faces repeated in a random order when it holds fewer than its share. On a set whose identities hold
equal counts (ORL's splits) the two are the same draw. On an unbalanced set they are not: in the aligned LFW subset
one private identity can hold 264 of 452 training faces, so nearly every mix of a shuffled batch is dominated by it
and the rare identities are learned only as its partners (docs/utility.md measures what balancing buys).
"""
from __future__ import annotations

import numpy as np

from freqmix_base.errors import FreqmixError

__all__ = ["SAMPLERS", "DEFAULT_SAMPLER", "check_sampler", "epoch_order", "balanced_epoch"]

SAMPLERS = ("shuffle", "balanced")
DEFAULT_SAMPLER = "balanced"


def check_sampler(sampler: str) -> None:
    """FreqmixError unless ``sampler`` is one of :data:`SAMPLERS`."""
    if sampler not in SAMPLERS:
        raise FreqmixError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")


def balanced_epoch(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One epoch of ``len(labels)`` face indices (int64) in which each identity of ``labels`` (N,) holds
    ``N // K`` or ``N // K + 1`` slots, its faces cycled in one random order to fill them; shuffled.

    When every identity holds the same count it is ``rng.permutation(N)`` itself, so that runs on equal-count sets
    draw the faces (and every later random number) exactly as a shuffle does.
    """
    n = len(labels)
    _, identity, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if (counts == counts[0]).all():
        return rng.permutation(n)
    k = len(counts)
    quota = np.full(k, n // k)
    quota[rng.choice(k, n % k, replace=False)] += 1
    grouped = np.lexsort((rng.random(n), identity))  # each identity's faces together, in a random order
    first = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(k), quota)
    slot = np.arange(n) - np.repeat(np.cumsum(quota) - quota, quota)
    picks = grouped[first[owner] + slot % counts[owner]]
    return picks[rng.permutation(n)]


def epoch_order(sampler: str, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face indices (int64, ``len(labels)``) of one epoch under ``sampler``, drawn from ``rng``."""
    check_sampler(sampler)
    return balanced_epoch(labels, rng) if sampler == "balanced" else rng.permutation(len(labels))
