"""Bootstrap intervals: they cover a known mean as often as they claim, and shrink with more data."""
import numpy as np
import pytest

from freqmix_base.errors import FreqmixError
from freqmix_base.intervals import bootstrap_interval


def test_interval_covers_a_known_mean_at_its_nominal_rate():
    rng = np.random.default_rng(0)
    covered = 0
    trials = 100
    for trial in range(trials):
        samples = [rng.normal(3.0, 1.0, 60) for _ in range(3)]
        mean, low, high = bootstrap_interval(samples, seed=trial, resamples=400)
        assert low <= mean <= high
        covered += low <= 3.0 <= high
    # Nominal 95%; a percentile bootstrap with 3 seeds runs a little narrow. Binomial(100, 0.95) sd ~ 2.2.
    assert 0.85 <= covered / trials <= 1.0


def test_interval_of_one_seed_matches_the_normal_approximation():
    values = np.random.default_rng(1).normal(10.0, 2.0, 400)
    mean, low, high = bootstrap_interval([values], seed=0)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert mean == pytest.approx(values.mean())
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)


def test_seeds_that_disagree_widen_the_interval():
    rng = np.random.default_rng(2)
    same = [rng.normal(0.0, 1.0, 50) for _ in range(3)]
    apart = [g + shift for g, shift in zip(same, (-2.0, 0.0, 2.0))]
    _, low_same, high_same = bootstrap_interval(same)
    _, low_apart, high_apart = bootstrap_interval(apart)
    assert high_apart - low_apart > 3 * (high_same - low_same)


def test_interval_is_seeded_and_rejects_empty_input():
    values = [np.arange(10.0)]
    assert bootstrap_interval(values, seed=4) == bootstrap_interval(values, seed=4)
    with pytest.raises(FreqmixError, match="at least one"):
        bootstrap_interval([[]])
