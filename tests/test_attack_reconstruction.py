"""CGAN reconstruction: the coefficient codec, the networks' shapes, and that training learns and is seeded."""
import numpy as np
import pytest
import torch

from attacks.metrics import ssim
from attacks.networks import CoefficientCodec, FrequencyUNet, PatchDiscriminator
from attacks.protection import Protection
from attacks.reconstruction import train_reconstruction
from mixup_env.frequency import FrequencyTransform
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)


@pytest.mark.parametrize("color", [False, True])
def test_codec_round_trip(color):
    x = synthetic_faces(num_identities=2, images_per_identity=3, image_size=16, seed=1, color=color).images.float()
    codec = CoefficientCodec.fit(x)
    assert torch.allclose(codec.decode(codec.encode(x)), x, atol=1e-2)


@pytest.mark.parametrize("size", [16, 40, 112])
def test_networks_map_grids_of_any_size(size):
    codec = CoefficientCodec(torch.zeros(64), torch.ones(64))
    g = FrequencyUNet(64, codec, torch.ones(64), torch.zeros(64, size // 8, size // 8),
                      torch.ones(64, dtype=torch.bool), width=8)
    d = PatchDiscriminator(codec, torch.ones(64), width=8)
    cond = torch.randn(2, 64, size // 8, size // 8)
    out = g(cond)
    assert out.shape == (2, 1, size, size)
    assert d(out, cond).shape[:2] == (2, 1)


def test_training_learns_and_is_seeded(faces):
    p = Protection.of(FrequencyTransform(1), {1: 1.0}, batch_size=8)
    x = faces.images.float()
    kwargs = dict(batch_size=8, width=8, progress=False)
    barely = train_reconstruction(p, faces.images, faces.labels, steps=1, seed=0, **kwargs)
    trained = train_reconstruction(p, faces.images, faces.labels, steps=40, seed=0, **kwargs)
    again = train_reconstruction(p, faces.images, faces.labels, steps=40, seed=0, **kwargs)
    rec = trained.reconstruct(p.transform(x))
    assert rec.shape == x.shape and rec.min() >= 0 and rec.max() <= 255
    assert torch.equal(rec, again.reconstruct(p.transform(x)))
    assert ssim(rec, x).mean() > ssim(barely.reconstruct(p.transform(x)), x).mean()


def test_mixed_keyed_tensors_reconstruct_to_images(faces):
    p = Protection.of(FrequencyTransform(1, "no-dc", key=4), {2: 0.5, 3: 0.5}, batch_size=8)
    attack = train_reconstruction(p, faces.images, faces.labels, steps=2, seed=1, batch_size=8, width=8,
                                  progress=False)
    tensors = p.protect_all(faces.images.float(), faces.labels, np.random.default_rng(0)).tensors
    assert attack.reconstruct(tensors).shape == (36, 1, 32, 32)
