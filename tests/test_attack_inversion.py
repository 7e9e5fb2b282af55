"""Model inversion: the target wrapper, both priors, the evaluator that judges them."""
import math

import pytest
import torch

from attacks.evaluator import train_evaluator
from attacks.inversion import TargetModel, invert_gmi, invert_tv, train_generator_prior
from mixup_env.frequency import FrequencyTransform
from recognizer.data import synthetic_faces
from recognizer.trainer import Recognizer

IDENTITIES = 4


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=IDENTITIES, images_per_identity=6, image_size=32, seed=0)


@pytest.fixture(scope="module")
def target(faces):
    transform = FrequencyTransform(1, "no-dc", key=2)
    rec = Recognizer(transform.out_channels, IDENTITIES, embedding_dim=16, seed=0)
    x, eye = transform(faces.images.float()), torch.eye(IDENTITIES)
    for _ in range(20):
        rec.train_step(x, eye[faces.labels])
    return TargetModel(rec, transform)


def test_identity_loss_is_the_scaled_logit_margin(target, faces):
    x = faces.images[:3].float()
    ids = torch.tensor([0, 1, 2])
    logits = target.logits(x).detach()
    margins = [logits[i, ids[i]] - max(logits[i, j] for j in range(IDENTITIES) if j != ids[i]) for i in range(3)]
    expected = -sum(margins) / 3 / target.recognizer.head.s
    assert target.identity_loss(x, ids).item() == pytest.approx(float(expected), rel=1e-5)


def test_target_rejects_a_transform_it_was_not_trained_on(target):
    with pytest.raises(ValueError, match="does not match"):
        TargetModel(target.recognizer, FrequencyTransform(1))


def test_tv_inversion_moves_towards_the_identity(target, faces):
    ids = torch.arange(IDENTITIES)
    mean_face = faces.images.float().mean(0)
    start = target.identity_loss(mean_face.expand(IDENTITIES, -1, -1, -1), ids).item()
    x = invert_tv(target, ids, mean_face, steps=15, seed=0, progress=False)
    assert x.shape == (IDENTITIES, 1, 32, 32) and x.min() >= 0 and x.max() <= 255
    assert target.identity_loss(x, ids).item() < start
    assert torch.equal(x, invert_tv(target, ids, mean_face, steps=15, seed=0, progress=False))


def test_generator_prior_and_its_inversion(target, faces):
    prior = train_generator_prior(faces.images, steps=3, seed=0, latent_dim=8, batch_size=8, width=16,
                                  progress=False)
    assert prior.latents.shape == (len(faces), 8)
    assert torch.allclose(prior.latents.norm(dim=1), torch.full((len(faces),), math.sqrt(8)), atol=1e-4)
    ids = torch.arange(IDENTITIES)
    start = invert_gmi(target, prior, ids, steps=0, seed=0, progress=False)
    x = invert_gmi(target, prior, ids, steps=15, seed=0, progress=False)
    assert x.shape == (IDENTITIES, 1, 32, 32) and x.min() >= 0 and x.max() <= 255
    # The search moves the prior's faces towards the wanted identities, and is seeded.
    assert target.identity_loss(x, ids).item() < target.identity_loss(start, ids).item()
    assert torch.equal(x, invert_gmi(target, prior, ids, steps=15, seed=0, progress=False))


def test_evaluator_learns_clean_identities(faces):
    evaluator = train_evaluator(faces.images, faces.labels, steps=60, seed=0, batch_size=12, progress=False)
    logits = evaluator.logits(faces.images.float())
    assert logits.shape == (len(faces), IDENTITIES)
    assert (logits.argmax(1) == faces.labels).float().mean() > 0.5
    assert torch.allclose(evaluator.embed(faces.images.float()).norm(dim=1), torch.ones(len(faces)), atol=1e-5)
