"""Block DCT against cv2.dct, exact inverses, channel selections and the keyed shuffle."""
import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_env.frequency import (
    FrequencyTransform, block_dct, block_idct, coefficients_to_images, images_to_coefficients, key_permutation,
    rgb_to_ycbcr, select_channels, ycbcr_to_rgb, zigzag_order,
)


def _images(n, c, h, w, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, c, h, w))).float()


def test_block_dct_matches_cv2_per_block():
    x = _images(2, 3, 24, 32)
    coeffs = block_dct(x - 128)
    worst = 0.0
    for n in range(2):
        for p in range(3):
            for i in range(3):
                for j in range(4):
                    block = (x[n, p, 8 * i:8 * i + 8, 8 * j:8 * j + 8].numpy() - 128).astype(np.float32)
                    ours = coeffs[n, p * 64:(p + 1) * 64, i, j].reshape(8, 8).numpy()
                    worst = max(worst, float(np.abs(cv2.dct(block) - ours).max()))
    assert worst < 1e-3


def test_block_inverse_is_exact_in_float64():
    x = _images(3, 1, 112, 112).double()
    assert (block_idct(block_dct(x)) - x).abs().max() < 1e-9


@pytest.mark.parametrize("channels", [1, 3])
def test_every_plane_helpers_are_the_transform_before_selection_and_its_exact_inverse(channels):
    x = _images(2, channels, 16, 24, seed=4).double()
    coeffs = images_to_coefficients(x)
    assert coeffs.shape == (2, 64 * channels, 2, 3)
    assert torch.allclose(coeffs, FrequencyTransform(channels)(x), atol=1e-9)
    keyed = FrequencyTransform(channels, "high", key=5)
    assert torch.allclose(coeffs[:, keyed.kept], keyed(x), atol=1e-9)
    assert (coefficients_to_images(coeffs) - x).abs().max() < 1e-9


@pytest.mark.parametrize("channels", [1, 3])
def test_float32_transform_round_trip_within_1e_4(channels):
    t = FrequencyTransform(channels)
    for seed in range(3):
        x = _images(8, channels, 112, 112, seed)
        assert t(x).dtype == torch.float32
        assert (t.inverse(t(x)) - x).abs().max() < 1e-4


def test_ycbcr_matches_opencv_and_inverts():
    x = _images(1, 3, 8, 8).double()
    ours = rgb_to_ycbcr(x)[0].permute(1, 2, 0).numpy()
    # OpenCV's YCrCb is full-range BT.601 with the chroma planes in the other order; on uint8 it uses
    # fixed-point coefficients and rounds, hence one grey level of slack.
    ref = cv2.cvtColor(x[0].permute(1, 2, 0).numpy().astype(np.uint8), cv2.COLOR_RGB2YCrCb)[..., [0, 2, 1]]
    assert np.abs(ours - ref).max() < 1.0
    assert (ycbcr_to_rgb(rgb_to_ycbcr(x)) - x).abs().max() < 1e-9


def test_zigzag_starts_like_jpeg_and_is_a_permutation():
    assert zigzag_order()[:10] == (0, 1, 8, 16, 9, 2, 3, 10, 17, 24)
    assert sorted(zigzag_order()) == list(range(64)) and zigzag_order()[-1] == 63


def test_channel_selections():
    assert select_channels("all", 3).tolist() == list(range(192))
    no_dc = select_channels("no-dc", 3)
    assert len(no_dc) == 189 and not {0, 64, 128} & set(no_dc.tolist())
    high = select_channels("high", 1, n_high=36)
    assert sorted(high.tolist()) == sorted(zigzag_order()[28:]) and 63 in high and 0 not in high
    assert select_channels([5, 1, 3], 1).tolist() == [1, 3, 5]


@pytest.mark.parametrize("bad", ["mid", [1, 1], [64], []])
def test_bad_selections_are_rejected(bad):
    with pytest.raises(ValueError):
        select_channels(bad, 1)


def test_keyed_shuffle_is_secret_and_deterministic():
    assert torch.equal(key_permutation(64, 7), key_permutation(64, 7))
    assert not torch.equal(key_permutation(64, 7), key_permutation(64, 8))
    x = _images(2, 1, 16, 16)
    plain, keyed = FrequencyTransform(1)(x), FrequencyTransform(1, key=7)(x)
    assert torch.equal(keyed, plain[:, key_permutation(64, 7)])


def test_transform_shapes_and_masked_inverse():
    x = _images(2, 3, 112, 112)
    t = FrequencyTransform(3, "no-dc", key=3)
    y = t(x)
    assert y.shape == (2, 189, 14, 14)
    # With the DC channels gone, the inverse loses each block's mean and nothing else.
    err = t.inverse(y) - x
    block_means = torch.nn.functional.avg_pool2d(err, 8)
    assert (err - torch.nn.functional.interpolate(block_means, scale_factor=8)).abs().max() < 1e-2


def test_upsampled_transform_inverts():
    x = _images(1, 1, 16, 16)
    t = FrequencyTransform(1, upsample=2)
    assert t(x).shape == (1, 64, 4, 4)
    assert (t.inverse(t(x)) - x).abs().max() < 1e-3


def test_sizes_not_multiple_of_8_are_rejected():
    with pytest.raises(ValueError, match="multiple of 8"):
        block_dct(torch.zeros(1, 1, 12, 16))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.sampled_from([1, 3]), hb=st.integers(1, 4), wb=st.integers(1, 4),
       key=st.one_of(st.none(), st.integers(0, 2**31)), seed=st.integers(0, 1000))
def test_round_trip_property(n, c, hb, wb, key, seed):
    x = _images(n, c, 8 * hb, 8 * wb, seed)
    t = FrequencyTransform(c, key=key)
    assert (t.inverse(t(x)) - x).abs().max() < 1e-3
