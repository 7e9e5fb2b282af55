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
    p = Protection.of(transform, {2: 0.5, 3: 0.5}, batch_size=4)
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
    p = Protection.of(FrequencyTransform(1), {3: 1.0}, batch_size=4)
    components = p.protect_all(faces.images.float(), faces.labels, np.random.default_rng(0)).components
    assert (components >= 0).all()


def test_scatter_puts_channels_back_in_their_slots(faces):
    p = Protection.of(FrequencyTransform(1, "high", n_high=10, key=5), {1: 1.0})
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
    truth = Protection.of(FrequencyTransform(1, "high", n_high=20, key=9), {1: 1.0})
    tensors = truth.transform(x)
    kept = truth.transform.kept
    assert torch.allclose(white_box(truth).scatter(tensors)[:, kept], images_to_coefficients(x)[:, kept], atol=1e-3)
    guess = black_box_guess(truth, seed=0)
    assert not torch.allclose(guess.scatter(tensors)[:, kept], images_to_coefficients(x)[:, kept], atol=1e-3)


def test_each_batch_draws_its_own_recipe_from_a_run_s_recipe_distribution(faces):
    flipped, mixed = Recipe(k=1, sign_flip=True), Recipe(k=2)
    p = Protection(FrequencyTransform(1, "no-dc", key=3), {flipped: 0.5, mixed: 0.5}, batch_size=2)
    assert p.k_probs == {1: 0.5, 2: 0.5} and p.kmax == 2 and p.mixes and not p.deterministic
    protected = p.protect_all(faces.images.float(), faces.labels, np.random.default_rng(0))
    ks = {int((protected.components[rows] >= 0).sum(dim=1).max()) for rows in protected.batches}
    assert ks == {1, 2}  # five batches of two: both recipes drawn
    clean = p.transform(faces.images.float())
    for rows in protected.batches:
        if (protected.components[rows, 1] < 0).all():  # the flipped k = 1 batch: the faces' magnitudes, signs mixed
            assert torch.allclose(protected.tensors[rows].abs(), clean[rows].abs(), atol=1e-4)
            assert not torch.allclose(protected.tensors[rows], clean[rows], atol=1e-4)
    # Every row is read as magnitudes once any recipe flips; recipes that become equal add their probabilities.
    assert torch.equal(p.readable(clean), clean.abs())
    assert p.with_k(1).recipes == {flipped: 0.5, Recipe(k=1): 0.5}
    assert p.mapped(lambda recipe: Recipe()).recipes == {Recipe(): 1.0}


def test_black_box_keeps_what_is_public_and_guesses_the_secrets():
    truth = Protection.of(FrequencyTransform(1, "high", n_high=20, key=9), {2: 0.3, 4: 0.7},
                       Recipe(alpha=0.5, sign_flip=True, laplace_epsilon=3.0))
    guess = black_box_guess(truth, seed=0)
    assert guess.transform.out_channels == 20 and guess.transform.key not in (None, 9)
    assert not torch.equal(guess.transform.kept, truth.transform.kept)
    assert guess.k_probs == {k: pytest.approx(0.2) for k in (2, 3, 4, 5, 6)}
    assert all(r.sign_flip and r.alpha == 1.0 and r.laplace_epsilon == GUESSED_EPSILON for r in guess.recipes)
    assert len(guess.recipes) == 5
    again = black_box_guess(truth, seed=0)
    assert torch.equal(again.transform.kept, guess.transform.kept)


def test_black_box_of_an_unkeyed_full_pipeline_needs_no_guess():
    truth = Protection.of(FrequencyTransform(1), {1: 1.0})
    guess = black_box_guess(truth, seed=0)
    assert torch.equal(guess.transform.kept, truth.transform.kept) and guess.k_probs == {1: 1.0}


@pytest.mark.parametrize("kwargs, message", [
    (dict(transform=FrequencyTransform(1, upsample=2), k_probs={1: 1.0}), "upsample"),
    (dict(transform=FrequencyTransform(1), k_probs={1: 0.5}), "k_probs"),
    (dict(transform=FrequencyTransform(1), k_probs={6: 1.0}, batch_size=4), "batch_size"),
    (dict(transform=FrequencyTransform(1), k_probs={0: 1.0}), "k_probs"),
])
def test_bad_protections_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Protection.of(**kwargs)
