"""DCTDP Laplace noise in the MixUp recipe: its scale, its randomness path, its validation and the env pass-through."""
import numpy as np
import pytest
import torch

from mixup_env.env import FreqMixUpEnv
from mixup_env.frequency import dct_matrix
from mixup_env.masking import LAPLACE_SENSITIVITY, FrequencyMixUp
from mixup_env.recipe import Recipe, RecipeError
from mixup_env.spaces import ActionCodec
from recognizer.data import synthetic_faces


def _batch(n=64, classes=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 6, 4, 4, generator=g), torch.arange(n) % classes


def test_sensitivity_bounds_every_dct_coefficient_of_a_one_pixel_change():
    c = dct_matrix()
    basis = torch.einsum("ua,vb->uvab", c, c)  # coefficient (u, v) per unit change of pixel (a, b)
    assert 255 * basis.abs().max() <= LAPLACE_SENSITIVITY


def test_noise_is_laplace_with_scale_sensitivity_over_epsilon():
    x, y = _batch(n=256)
    eps = 2.0
    noisy = FrequencyMixUp(4)(Recipe(k=1, laplace_epsilon=eps), x, y, np.random.default_rng(0)).x
    noise = (noisy - x).flatten().double()
    b = LAPLACE_SENSITIVITY / eps
    assert abs(noise.mean().item()) < 0.05 * b
    assert noise.abs().mean().item() == pytest.approx(b, rel=0.05)  # E|L| = b
    assert noise.var().item() == pytest.approx(2 * b * b, rel=0.1)  # Var L = 2b²


def test_noise_is_reproducible_and_uses_the_sign_flip_rng_path():
    x, y = _batch()
    recipe = Recipe(k=3, sign_flip=True, laplace_epsilon=1.0)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    a = FrequencyMixUp(4)(recipe, x, y, rng_a)
    b = FrequencyMixUp(4)(recipe, x, y, rng_b)
    assert torch.equal(a.x, b.x)
    # One integer drawn for all element-wise draws: adding noise leaves the caller's generator where a sign flip does.
    rng_flip = np.random.default_rng(3)
    FrequencyMixUp(4)(Recipe(k=3, sign_flip=True), x, y, rng_flip)
    assert rng_a.integers(2**31) == rng_flip.integers(2**31)


def test_unset_epsilon_adds_nothing():
    x, y = _batch()
    out = FrequencyMixUp(4)(Recipe(k=1), x, y, np.random.default_rng(0)).x
    assert torch.equal(out, x)


@pytest.mark.parametrize("eps", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_epsilon_is_rejected(eps):
    with pytest.raises(RecipeError, match="laplace_epsilon"):
        Recipe(laplace_epsilon=eps)


@pytest.mark.parametrize("kind", ["k", "recipe"])
def test_actions_keep_the_default_recipes_noise(kind):
    codec = ActionCodec(kind, (1, 2, 3), Recipe(k=2, laplace_epsilon=0.5))
    action = codec.space.sample()
    assert codec.decode(action).laplace_epsilon == 0.5


def test_env_passes_the_noise_through_to_training():
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    env = FreqMixUpEnv(faces, k_choices=(1, 2), default_recipe=Recipe(k=1, laplace_epsilon=0.1), batch_size=8,
                       embedding_dim=16, steps_per_episode=2)
    env.reset(seed=0)
    assert env.codec.decode(0).laplace_epsilon == 0.1
    assert np.isfinite(env.step(0)[1])
