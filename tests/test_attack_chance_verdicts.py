"""Chance levels (a guess that holds nothing, scored as the attacks are) and the judge's verdicts on pictured
outputs, against the judge itself."""
import numpy as np
import pytest
import torch

from attacks.chance import chance_levels
from attacks.judge import PretrainedJudge
from attacks.metrics import MAX_PSNR, psnr, ssim
from attacks.verdicts import sample_verdicts
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    data = synthetic_faces(num_identities=3, images_per_identity=2, image_size=32, seed=0)
    return data.images.float(), data.labels


@pytest.fixture(scope="module")
def judge(faces):
    images, labels = faces
    return PretrainedJudge(images, labels)


def test_chance_is_the_attackers_mean_face_scored_as_the_attacks_are(faces, judge):
    images, labels = faces
    attacker = images.flip(-1)  # other faces, the same kind
    chance = chance_levels(judge, images, 3, attacker)
    guess = attacker.mean(dim=0, keepdim=True).expand_as(images)
    assert chance["ssim"] == pytest.approx(float(ssim(guess, images).mean()))
    assert chance["psnr"] == pytest.approx(float(psnr(guess, images).mean()))
    assert chance["recon_id_accuracy"] == chance["mia_top1"] == pytest.approx(1 / 3)
    assert chance["mia_top5"] == 1.0  # 3 identities: every one is in the top 5
    mean_embedding = judge.embed(attacker.mean(dim=0, keepdim=True))[0]
    nearest = [min(float((mean_embedding - g).norm()) for g in judge.gallery_embeddings[judge.gallery_labels == k])
               for k in range(3)]
    assert chance["knn_distance"] == pytest.approx(np.mean(nearest))


def test_a_guess_that_is_the_face_scores_as_a_perfect_attack(faces, judge):
    images, _ = faces
    chance = chance_levels(judge, images[:1], 3, images[:1])
    assert chance["ssim"] == pytest.approx(1.0) and chance["psnr"] == MAX_PSNR


def test_verdicts_line_each_attack_row_up_with_its_column(faces, judge):
    images, labels = faces
    right = images[[0, 2, 4]]  # one face of each identity, in identity order
    samples = {"target": right, "decoder_white_box": right, "cgan_white_box": right[[1, 2, 0]],
               "identity": right, "tv_prior": right, "generator_prior": right[[2, 0, 1]]}
    verdicts = sample_verdicts(judge, samples, labels[[0, 2, 4]], torch.arange(3))
    assert set(verdicts) == {"decoder_white_box", "cgan_white_box", "tv_prior", "generator_prior"}
    # The judge names its own gallery faces right, and a face in another identity's column wrong.
    assert verdicts["decoder_white_box"].tolist() == verdicts["tv_prior"].tolist() == [True, True, True]
    assert verdicts["cgan_white_box"].tolist() == verdicts["generator_prior"].tolist() == [False, False, False]
