"""Exposure over training: averaging a face's linked encodings washes its partners out."""
import numpy as np
import pytest
import torch

from attacks.analytic import AnalyticAttack
from attacks.exposure import linked_inverses
from attacks.metrics import ssim
from attacks.protection import Protection
from mixup_env.frequency import FrequencyTransform
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
