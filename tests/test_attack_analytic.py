"""The analytic inverse as the attacks use it: the exact inverse of a known pipeline, the mix of the faces for a
mixed tensor, the mean face for what was dropped; and the residual CGAN that starts from it."""
import numpy as np
import pytest
import torch

from attacks.metrics import psnr, ssim
from attacks.protection import Protection
from attacks.reconstruction import train_reconstruction
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.env import FreqMixUpEnv
from mixup_env.frequency import FrequencyTransform, images_to_coefficients
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=4, image_size=32, seed=0)


@pytest.mark.parametrize("color", [False, True])
def test_inverts_an_unprotected_pipeline_exactly(color):
    ds = synthetic_faces(num_identities=3, images_per_identity=2, image_size=16, seed=1, color=color)
    x = ds.images.float()
    truth = Protection.of(FrequencyTransform(ds.image_channels), {1: 1.0})
    rec = AnalyticInverse.fit(truth.transform, x).reconstruct(truth.transform(x))
    assert ssim(rec, x) == pytest.approx(np.ones(len(x)), abs=1e-4)
    assert (psnr(rec, x) > 50).all()


def test_white_box_key_unshuffles_and_a_wrong_key_does_not(faces):
    x = faces.images.float()
    truth = Protection.of(FrequencyTransform(1, key=11), {1: 1.0})
    tensors = truth.transform(x)
    assert ssim(AnalyticInverse.fit(truth.transform, x).reconstruct(tensors), x).min() > 0.999
    wrong = Protection.of(FrequencyTransform(1, key=12), {1: 1.0})
    assert ssim(AnalyticInverse.fit(wrong.transform, x).reconstruct(tensors), x).mean() < 0.5


def test_a_mix_inverts_to_the_mix_of_the_faces(faces):
    x = faces.images.float()
    truth = Protection.of(FrequencyTransform(1, key=3), {2: 1.0}, batch_size=8)
    protected = truth.protect_all(x, faces.labels, np.random.default_rng(0))
    expected = (protected.weights[:, :, None, None, None] * x[protected.components]).sum(dim=1)
    rec = AnalyticInverse.fit(truth.transform, x).reconstruct(protected.tensors)
    assert torch.allclose(rec, expected.clamp(0, 255), atol=1e-2)


def test_dropped_channels_come_from_the_attackers_mean_face(faces):
    x = faces.images.float()
    own, private = x[:12], x[12:]
    truth = Protection.of(FrequencyTransform(1, "no-dc"), {1: 1.0})
    attack = AnalyticInverse.fit(truth.transform, own)
    coeffs = attack.coefficients(truth.transform(private))
    full = images_to_coefficients(private)
    assert torch.allclose(coeffs[:, 1:], full[:, 1:], atol=1e-3)  # AC planes as observed
    assert torch.allclose(coeffs[:, 0], images_to_coefficients(own)[:, 0].mean(0).expand(len(private), -1, -1), atol=1e-3)


def test_residual_cgan_equals_the_analytic_attack_at_step_zero(faces):
    x = faces.images.float()
    truth = Protection.of(FrequencyTransform(1, "high", n_high=20, key=5), {2: 0.5, 3: 0.5}, batch_size=8)
    cgan = train_reconstruction(truth, faces.images, faces.labels, steps=0, seed=0, batch_size=8, width=8,
                                progress=False)
    tensors = truth.protect_all(x, faces.labels, np.random.default_rng(1)).tensors
    analytic = AnalyticInverse.fit(truth.transform, faces.images).reconstruct(tensors)
    assert torch.allclose(cgan.reconstruct(tensors), analytic, atol=1e-3)
    assert [point["step"] for point in cgan.curve] == [0]


def test_learning_curve_starts_at_the_analytic_attack_and_improves(faces):
    truth = Protection.of(FrequencyTransform(1, "no-dc", key=2), {1: 1.0}, batch_size=8)
    cgan = train_reconstruction(truth, faces.images, faces.labels, steps=30, seed=0, batch_size=8, width=8,
                                progress=False)
    steps = [point["step"] for point in cgan.curve]
    assert steps == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert cgan.curve[-1]["l1"] < cgan.curve[0]["l1"]


def test_the_env_leakage_signal_inverts_with_the_attacks_analytic_inverse(faces):
    # One inverse: the env's white-box leakage attack is the privacy evaluation's analytic attack fitted on the
    # env's training faces.
    env = FreqMixUpEnv(faces, batch_size=8, channels="high", key=4, reward="constrained",
                       privacy="leakage", embedding_dim=16)
    truth = Protection.of(env.transform, {1: 1.0})
    tensors = env.transform(faces.images[:8].float())
    attack = AnalyticInverse.fit(truth.transform, env.train_data.images)
    assert isinstance(env.leakage.attack, AnalyticInverse)
    assert torch.equal(env.leakage.attack.reconstruct(tensors), attack.reconstruct(tensors))
