"""The attacker's view of a defense: protecting whole datasets, scattering channels back, the black-box guess."""
import numpy as np
import pytest
import torch

from attacks.protection import GUESSED_EPSILON, Protection, black_box_guess, white_box
from mixup_env.frequency import FrequencyTransform, images_to_coefficients
from mixup_env.recipe import Recipe
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=5, images_per_identity=2, image_size=16, seed=0)


def test_protect_all_mixes_each_image_once_as_described(faces):
    transform = FrequencyTransform(1, "no-dc", key=3)
    p = Protection(transform, {2: 0.5, 3: 0.5}, batch_size=4)
    x = faces.images.float()
    protected = p.protect_all(x, faces.labels, np.random.default_rng(0))
    tensors, components, weights = protected.tensors, protected.components, protected.weights
    assert torch.equal(components[:, 0], torch.arange(10))  # row i holds image i
    coeffs = transform(x)
    for i in range(10):
        used = components[i] >= 0
        expected = (weights[i, used].view(-1, 1, 1, 1) * coeffs[components[i, used]]).sum(0)
        assert torch.allclose(tensors[i], expected, atol=1e-4)
        assert weights[i, used].sum() == pytest.approx(1.0) and (weights[i, ~used] == 0).all()


def test_short_last_batch_joins_the_previous_one(faces):
    # 10 images in batches of 4 leave 2, fewer than k = 3: the last batch takes 6 images.
    p = Protection(FrequencyTransform(1), {3: 1.0}, batch_size=4)
    components = p.protect_all(faces.images.float(), faces.labels, np.random.default_rng(0)).components
    assert (components >= 0).all()


def test_scatter_puts_channels_back_in_their_slots(faces):
    p = Protection(FrequencyTransform(1, "high", n_high=10, key=5), {1: 1.0})
    x = faces.images.float()
    full = p.scatter(p.transform(x))
    kept = p.transform.kept
    assert torch.allclose(full[:, kept], images_to_coefficients(x)[:, kept], atol=1e-3)
    dropped = torch.ones(64, dtype=torch.bool)
    dropped[kept] = False
    assert (full[:, dropped] == 0).all()


def test_white_box_inverts_the_truth_and_black_box_does_not(faces):
    # The white-box belief puts every channel back where the defense took it from; the black-box guess cannot.
    x = faces.images.float()
    truth = Protection(FrequencyTransform(1, "high", n_high=20, key=9), {1: 1.0})
    tensors = truth.transform(x)
    kept = truth.transform.kept
    assert torch.allclose(white_box(truth).scatter(tensors)[:, kept], images_to_coefficients(x)[:, kept], atol=1e-3)
    guess = black_box_guess(truth, seed=0)
    assert not torch.allclose(guess.scatter(tensors)[:, kept], images_to_coefficients(x)[:, kept], atol=1e-3)


def test_black_box_keeps_what_is_public_and_guesses_the_secrets():
    truth = Protection(FrequencyTransform(1, "high", n_high=20, key=9), {2: 0.3, 4: 0.7},
                       Recipe(alpha=0.5, sign_flip=True, laplace_epsilon=3.0))
    guess = black_box_guess(truth, seed=0)
    assert guess.transform.out_channels == 20 and guess.transform.key not in (None, 9)
    assert not torch.equal(guess.transform.kept, truth.transform.kept)
    assert guess.k_probs == {k: pytest.approx(0.2) for k in (2, 3, 4, 5, 6)}
    assert guess.recipe.sign_flip and guess.recipe.alpha == 1.0 and guess.recipe.laplace_epsilon == GUESSED_EPSILON
    again = black_box_guess(truth, seed=0)
    assert torch.equal(again.transform.kept, guess.transform.kept)


def test_black_box_of_an_unkeyed_full_pipeline_needs_no_guess():
    truth = Protection(FrequencyTransform(1), {1: 1.0})
    guess = black_box_guess(truth, seed=0)
    assert torch.equal(guess.transform.kept, truth.transform.kept) and guess.k_probs == {1: 1.0}


@pytest.mark.parametrize("kwargs, message", [
    (dict(transform=FrequencyTransform(1, upsample=2), k_probs={1: 1.0}), "upsample"),
    (dict(transform=FrequencyTransform(1), k_probs={1: 0.5}), "k_probs"),
    (dict(transform=FrequencyTransform(1), k_probs={6: 1.0}, batch_size=4), "batch_size"),
])
def test_bad_protections_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Protection(**kwargs)
