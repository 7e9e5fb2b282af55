"""Exposure over training: averaging a face's linked encodings washes its partners out."""
import numpy as np
import pytest
import torch

from attacks.analytic import AnalyticAttack
from attacks.exposure import linked_inverses
from attacks.metrics import ssim
from attacks.protection import Protection
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def setting():
    faces = synthetic_faces(num_identities=8, images_per_identity=4, image_size=32, seed=0)
    truth = Protection(FrequencyTransform(1, key=3), {2: 1.0}, batch_size=16)
    return faces, truth, AnalyticAttack.fit(truth, faces.images)


def test_one_encoding_is_the_analytic_inverse(setting):
    faces, truth, analytic = setting
    x = faces.images.float()
    once = linked_inverses(truth, analytic, x, faces.labels, 1, np.random.default_rng(0))
    tensors, _, _ = truth.protect_all(x, faces.labels, np.random.default_rng(0))
    assert torch.allclose(once, analytic.reconstruct(tensors))


def test_more_linked_encodings_leak_more(setting):
    faces, truth, analytic = setting
    x = faces.images.float()
    rng = np.random.default_rng(1)
    leaks = [ssim(linked_inverses(truth, analytic, x, faces.labels, e, rng), x).mean() for e in (1, 5, 20)]
    assert leaks[0] < leaks[1] < leaks[2]
    # Partners wash out towards their mean: with E = 20 each face holds its own mean weight 1/2 against a blur.
    average = 0.5 * x + 0.5 * x.mean(dim=0)
    far = linked_inverses(truth, analytic, x, faces.labels, 20, rng)
    assert (far - average).abs().mean() < (x.mean(dim=0) - x).abs().mean() / 3


@pytest.mark.parametrize("recipe, k, deterministic", [
    (Recipe(), 1, True),  # ppfr: masked and shuffled, nothing random
    (Recipe(), 2, False),
    (Recipe(drop=0.75), 1, False),  # partial: each tensor keeps its own random channels
    (Recipe(laplace_epsilon=1.0), 1, False),  # dctdp: fresh noise
    (Recipe(sign_flip=True), 1, False),
])
def test_a_deterministic_protection_gives_a_face_one_encoding_so_linking_more_adds_nothing(setting, recipe, k,
                                                                                           deterministic):
    # The evaluation reads E linked encodings of a deterministic protection as one (privacy.py's _exposure).
    faces, _, _ = setting
    truth = Protection(FrequencyTransform(1, "high", key=3), {k: 1.0}, recipe, batch_size=16)
    analytic = AnalyticAttack.fit(truth, faces.images)
    x = faces.images.float()
    once = linked_inverses(truth, analytic, x, faces.labels, 1, np.random.default_rng(0))
    five = linked_inverses(truth, analytic, x, faces.labels, 5, np.random.default_rng(1))
    assert truth.deterministic == deterministic
    assert torch.allclose(once, five, atol=1e-3) == deterministic
