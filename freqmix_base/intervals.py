"""Uncertainty of a figure: the mean over attacked images (and seeds) with a 95% bootstrap interval.

The bootstrap is hierarchical: resample the seeds with replacement, then within each drawn seed resample its images
with replacement, and take the mean of the per-seed means. Seeds carry the variation of training and attacking;
images carry the variation of which faces were attacked. With one seed only the images are resampled.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from freqmix_base.errors import FreqmixError

CONFIDENCE = 0.95
RESAMPLES = 2000


def bootstrap_interval(per_seed: Sequence[Sequence[float] | np.ndarray], seed: int = 0,
                       confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of the per-seed means of ``per_seed`` (one array of per-image values per
    seed) and its percentile bootstrap interval at ``confidence``, drawn from ``seed``."""
    groups = [np.asarray(values, dtype=np.float64).ravel() for values in per_seed]
    if not groups or any(len(g) == 0 for g in groups):
        raise FreqmixError("a bootstrap interval needs at least one seed and one value per seed")
    if not 0 < confidence < 1:
        raise FreqmixError(f"confidence must lie in (0, 1), not {confidence}")
    rng = np.random.default_rng(seed)
    # Bootstrap means of each seed's images: (seeds, resamples).
    inner = np.stack([g[rng.integers(len(g), size=(resamples, len(g)))].mean(axis=1) for g in groups])
    drawn = rng.integers(len(groups), size=(resamples, len(groups)))
    means = inner[drawn, np.arange(resamples)[:, None]].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(np.mean([g.mean() for g in groups])), float(low), float(high)
