"""Attack metrics against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from attacks.metrics import (MAX_PSNR, ImageRangeError, component_scores, knn_distance, privacy_scores, psnr, score_cls, ssim,
                             topk_accuracy)


def _faces(n=3, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 1, 16, 16))).float()


def test_psnr_of_a_known_mse():
    target = torch.full((2, 1, 8, 8), 100.0)
    rec = target + torch.tensor([5.0, 10.0]).view(2, 1, 1, 1)  # MSE 25 and 100
    expected = [10 * math.log10(255**2 / 25), 10 * math.log10(255**2 / 100)]
    assert psnr(rec, target) == pytest.approx(expected)


def test_identical_images_have_capped_psnr_and_ssim_one():
    x = _faces()
    assert psnr(x, x) == pytest.approx([MAX_PSNR] * 3)
    assert ssim(x, x) == pytest.approx([1.0] * 3)


def test_ssim_falls_with_noise_and_handles_colour():
    x = _faces(2)
    noise = torch.from_numpy(np.random.default_rng(1).normal(0, 1, x.shape)).float()
    noisy = (x + 80 * noise).clamp(0, 255)
    assert (ssim(noisy, x) < ssim((x + 20 * noise).clamp(0, 255), x)).all()
    colour = torch.cat([x, x, x], 1)
    assert ssim(torch.cat([noisy] * 3, 1), colour) == pytest.approx(ssim(noisy, x))


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(_faces(2), _faces(3))


def test_component_scores_pick_best_and_dominant():
    images = _faces(3)
    # Row 0 mixes images 0 (weight 0.7) and 2 (0.3) but its reconstruction is image 2; row 1 is unmixed.
    components = torch.tensor([[0, 2], [1, -1]])
    weights = torch.tensor([[0.7, 0.3], [1.0, 0.0]])
    rec = torch.stack([images[2], images[1]])
    s = component_scores(rec, images, components, weights)
    assert s["best"].tolist() == [2, 1] and s["dominant"].tolist() == [0, 1]
    assert s["ssim_best"] == pytest.approx([1.0, 1.0]) and s["psnr_best"] == pytest.approx([MAX_PSNR] * 2)
    assert s["ssim_dominant"][0] == pytest.approx(ssim(images[2:3], images[0:1])[0])
    assert s["psnr_dominant"][0] == pytest.approx(psnr(images[2:3], images[0:1])[0])


def test_topk_accuracy_by_hand():
    logits = torch.tensor([[0.9, 0.5, 0.1], [0.1, 0.2, 0.7], [0.3, 0.2, 0.1]])
    labels = torch.tensor([0, 1, 2])
    assert topk_accuracy(logits, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(logits, labels, 2) == pytest.approx(2 / 3)
    assert topk_accuracy(logits, labels, 5) == 1.0  # k capped at the 3 classes


def test_knn_distance_by_hand():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    gallery_labels = torch.tensor([0, 0, 1])
    query = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    query_labels = torch.tensor([0, 1])
    # Query 0 (identity 0): nearest of (1,0) and (0,1) is (0,1) at sqrt(0.36 + 0.04); query 1 vs (-1,0): sqrt(2).
    expected = (math.sqrt(0.36 + 0.04) + math.sqrt(2)) / 2
    assert knn_distance(query, query_labels, gallery, gallery_labels) == pytest.approx(expected)
    with pytest.raises(ValueError, match="gallery"):
        knn_distance(query, torch.tensor([0, 5]), gallery, gallery_labels)


def test_privacy_scores_by_hand():
    # 10 identities: chance 0.1, top-5 chance 0.5.
    s = privacy_scores(ssim_value=0.6, psnr_value=25.0, recon_id_accuracy=0.55, mia_top5=0.75, num_identities=10)
    s1, s2 = 0.4, (30 - 25) / 20
    s3, s4 = 1 - (0.55 - 0.1) / 0.9, 1 - (0.75 - 0.5) / 0.5
    assert [s["S1"], s["S2"], s["S3"], s["S4"]] == pytest.approx([s1, s2, s3, s4])
    assert s["score_pp"] == pytest.approx(0.4 * (s1 + s2) / 2 + 0.6 * (s3 + s4) / 2)


def test_privacy_scores_clip_to_the_unit_interval():
    perfect_attack = privacy_scores(1.0, 60.0, 1.0, 1.0, 20)
    useless_attack = privacy_scores(-0.2, 5.0, 0.0, 0.0, 20)
    assert perfect_attack["score_pp"] == 0.0 and useless_attack["score_pp"] == 1.0


def test_score_cls_is_relative_accuracy():
    assert score_cls(0.6, 0.8) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="reference"):
        score_cls(0.5, 0.0)


def test_zero_to_one_floats_are_rejected_with_the_fix():
    # The same pair scored on the right scale: 0..1 inputs would read as ~60 dB and SSIM ~1 instead.
    x = _faces(2)
    noisy = (x + torch.from_numpy(np.random.default_rng(3).normal(0, 50, x.shape)).float()).clamp(0, 255)
    assert psnr(noisy, x).mean() < 20
    for metric in (psnr, ssim):
        with pytest.raises(ImageRangeError, match="0..1 floats.*multiply them by 255"):
            metric(noisy / 255, x)
        with pytest.raises(ImageRangeError, match="targets"):
            metric(noisy, x / 255)
    black = torch.zeros(1, 1, 8, 8)
    assert psnr(black, black) == pytest.approx([MAX_PSNR])  # an all-black image is not mistaken for 0..1
