"""The one SSIM (mixup_env.ssim) against scikit-image: float64 to rounding, float32 to what a training signal needs,
pairs, gradients; and the attacks' metric and the decoder's loss are it."""
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from attacks import decoder, metrics
from freqmix_base.errors import FreqmixError
from mixup_env.ssim import pairwise_ssim, ssim, window_mean


def _pair(channels, seed=0, shape=(24, 20)):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 255, (3, channels, *shape))
    return a, np.clip(a + rng.normal(0, 40, a.shape), 0, 255)


def _skimage(a, b):
    return [structural_similarity(b[i], a[i], data_range=255, channel_axis=0) for i in range(len(a))]


@pytest.mark.parametrize("channels", [1, 3])
def test_float64_equals_scikit_image_to_rounding(channels):
    a, b = _pair(channels)
    assert ssim(torch.tensor(a), torch.tensor(b)).numpy() == pytest.approx(_skimage(a, b), abs=1e-12, rel=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_float32_equals_scikit_image_to_float32_precision(channels):
    a, b = _pair(channels, seed=1)
    got = ssim(torch.tensor(a).float(), torch.tensor(b).float())
    assert got.dtype == torch.float32
    assert got.numpy() == pytest.approx(_skimage(a, b), abs=1e-4)


def test_window_mean_is_the_mean_of_every_7x7_window():
    x = torch.rand(2, 1, 10, 9, dtype=torch.float64)
    expected = torch.nn.functional.avg_pool2d(x, 7, stride=1)
    assert window_mean(x).shape == (2, 1, 4, 3) and torch.allclose(window_mean(x), expected, atol=1e-14)


def test_pairwise_ssim_scores_every_pair_as_scikit_image_does():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (3, 3, 16, 18))
    targets = np.clip(images[[2, 0]] + rng.normal(0, 30, (2, 3, 16, 18)), 0, 255)
    rows, cols = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 0, 1])
    expected = [structural_similarity(targets[c], images[r], data_range=255, channel_axis=0)
                for r, c in zip(rows, cols)]
    got = pairwise_ssim(torch.tensor(images), torch.tensor(targets), rows, cols)
    assert got.numpy() == pytest.approx(expected, abs=1e-12, rel=0)
    # Pairs that leave images and targets out, in any order, score the same.
    some = pairwise_ssim(torch.tensor(images), torch.tensor(targets), torch.tensor([2, 0]), torch.tensor([1, 1]))
    assert some.numpy() == pytest.approx([expected[4], expected[1]], abs=1e-12, rel=0)


def test_its_gradient_is_the_derivative_of_ssim():
    # The decoder trains on 1 − SSIM: the gradient must be the true one (finite differences, float64).
    a, b = _pair(1, seed=2, shape=(9, 8))
    x = torch.tensor(a[:2], requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ssim(t, torch.tensor(b[:2])), (x,))


def test_the_attacks_metric_and_the_decoder_loss_are_this_ssim():
    a, b = _pair(3, seed=3)
    assert metrics.ssim(torch.tensor(a), torch.tensor(b)) == pytest.approx(_skimage(a, b), abs=1e-12, rel=0)
    assert decoder.ssim is ssim


@pytest.mark.parametrize("images, targets, message", [
    (torch.zeros(2, 1, 8, 8), torch.zeros(2, 3, 8, 8), "one image shape"),
    (torch.zeros(2, 1, 6, 8), torch.zeros(2, 1, 6, 8), "at least 7×7"),
    (torch.zeros(2, 1, 8, 8), torch.zeros(3, 1, 8, 8), "of one shape"),
])
def test_bad_shapes_are_one_line_errors(images, targets, message):
    with pytest.raises(FreqmixError, match=message):
        ssim(images, targets)
