"""Frequency MixUp: weights, partners, soft labels, perturbations and bad recipes."""
import numpy as np
import pytest
import torch

from mixup_env.masking import INSTAHIDE_MAX_WEIGHT, FrequencyMixUp, draw_weights
from mixup_env.recipe import Recipe, RecipeError


def _batch(n=12, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, 3, 3, generator=g), torch.arange(n) % classes


@pytest.mark.parametrize("scheme", ["dirichlet", "instahide", "uniform"])
@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_mix_is_the_weighted_sum_and_labels_follow(scheme, k):
    x, y = _batch()
    out = FrequencyMixUp(4)(Recipe(k=k, weights=scheme), x, y, np.random.default_rng(1))
    assert out.partners.shape == out.weights.shape == (12, k)
    assert torch.allclose(out.weights.sum(1), torch.ones(12))
    assert torch.allclose(out.soft_labels.sum(1), torch.ones(12))
    assert torch.equal(out.partners[:, 0], torch.arange(12))
    for i in range(12):
        assert len(set(out.partners[i].tolist())) == k
        expected = sum(out.weights[i, j] * x[out.partners[i, j]] for j in range(k))
        assert torch.allclose(out.x[i], expected, atol=1e-6)
        label = torch.zeros(4)
        for j in range(k):
            label[y[out.partners[i, j]]] += out.weights[i, j]
        assert torch.allclose(out.soft_labels[i], label, atol=1e-6)


def test_k1_is_identity_with_one_hot_labels():
    x, y = _batch()
    out = FrequencyMixUp(4)(Recipe(k=1), x, y, np.random.default_rng(0))
    assert torch.equal(out.x, x) and torch.equal(out.soft_labels.argmax(1), y)


def test_instahide_weights_are_capped():
    w = draw_weights(Recipe(k=2, weights="instahide"), 2000, np.random.default_rng(0))
    assert w.max() <= INSTAHIDE_MAX_WEIGHT and w.min() >= 1 - INSTAHIDE_MAX_WEIGHT - 1e-12


def test_dirichlet_concentration_controls_evenness():
    rng = np.random.default_rng(0)
    peaky = draw_weights(Recipe(k=4, alpha=0.1), 4000, rng).max(1).mean()
    even = draw_weights(Recipe(k=4, alpha=100.0), 4000, rng).max(1).mean()
    assert peaky > 0.8 and abs(even - 0.25) < 0.05


def test_same_rng_seed_same_mix():
    x, y = _batch()
    r = Recipe(k=3, sign_flip=True, drop=0.4)
    a = FrequencyMixUp(4)(r, x, y, np.random.default_rng(5))
    b = FrequencyMixUp(4)(r, x, y, np.random.default_rng(5))
    assert torch.equal(a.x, b.x) and torch.equal(a.partners, b.partners)


def test_sign_flip_keeps_magnitudes_and_drop_zeroes_channels():
    x, y = _batch()
    flipped = FrequencyMixUp(4)(Recipe(k=1, sign_flip=True), x, y, np.random.default_rng(0)).x
    assert torch.allclose(flipped.abs(), x.abs()) and (flipped != x).any()
    dropped = FrequencyMixUp(4)(Recipe(k=1, drop=0.4), x, y, np.random.default_rng(0)).x
    zero_channels = (dropped.flatten(2).abs().sum(2) == 0).sum(1)
    assert (zero_channels == 2).all()  # round(0.4 * 5 channels)


def test_a_secret_drop_keeps_each_face_s_channels_from_call_to_call_and_fresh_draws_do_not():
    x, y = _batch()
    recipe = Recipe(k=1, drop=0.4, drop_secret=True)
    faces = torch.arange(100, 112)

    def zeroed(mixed):
        return mixed.x.flatten(2).abs().sum(2) == 0  # (12, 5) which channels each row dropped

    first = zeroed(FrequencyMixUp(4)(recipe, x, y, np.random.default_rng(0), faces, secret=7))
    # Another epoch: other draws, the rows in another order; each face drops what it dropped before.
    order = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    again = zeroed(FrequencyMixUp(4)(recipe, x[order], y[order], np.random.default_rng(9), faces[order], secret=7))
    assert torch.equal(again, first[order]) and (first.sum(1) == 2).all()
    assert len({tuple(row.tolist()) for row in first}) > 3  # faces differ from each other
    other_key = zeroed(FrequencyMixUp(4)(recipe, x, y, np.random.default_rng(0), faces, secret=8))
    assert not torch.equal(other_key, first)
    fresh = [zeroed(FrequencyMixUp(4)(recipe, x, y, np.random.default_rng(seed))) for seed in (0, 9)]
    assert not torch.equal(*fresh)  # without the faces' names, a party draws afresh
    with pytest.raises(RecipeError, match="drop_secret .* needs a key"):
        FrequencyMixUp(4)(recipe, x, y, np.random.default_rng(0), faces, secret=None)


def test_public_pool_partners_and_labels():
    x, y = _batch()
    pool = torch.randn(7, 5, 3, 3)
    out = FrequencyMixUp(4, pool=pool)(Recipe(k=3, partners="pool"), x, y, np.random.default_rng(0))
    assert (out.partners[:, 1:] < 0).all()
    i, j = 0, int(-1 - out.partners[0, 1])
    expected = out.weights[0, 0] * x[0] + out.weights[0, 1] * pool[j] + out.weights[0, 2] * pool[-1 - out.partners[0, 2]]
    assert torch.allclose(out.x[i], expected, atol=1e-6)
    assert torch.equal(out.soft_labels.argmax(1), y) and torch.allclose(out.soft_labels.sum(1), torch.ones(12))
    # A pool given to a recipe that mixes within the batch is not used; pool partners without a pool are an error.
    batch = FrequencyMixUp(4, pool=pool)(Recipe(k=3), x, y, np.random.default_rng(0))
    assert (batch.partners >= 0).all()
    with pytest.raises(RecipeError, match="no pool was given"):
        FrequencyMixUp(4)(Recipe(k=3, partners="pool"), x, y, np.random.default_rng(0))


@pytest.mark.parametrize("kwargs", [dict(k=0), dict(k=2.5), dict(weights="beta"), dict(alpha=0.0), dict(drop=1.0),
                                    dict(partners="crowd")])
def test_bad_recipes_are_rejected(kwargs):
    with pytest.raises(RecipeError):
        Recipe(**kwargs)


def test_k_larger_than_batch_is_a_clear_error():
    x, y = _batch(n=3)
    with pytest.raises(RecipeError, match="batch of at least 5"):
        FrequencyMixUp(4)(Recipe(k=5), x, y, np.random.default_rng(0))
