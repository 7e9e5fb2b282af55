"""×s bilinear upsampling before the DCT (TFace's DCTDP front end) and its least-squares inverse."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from freqmix.cli import main
from mixup_env.frequency import (
    FrequencyTransform, bilinear_downsampling_matrix, bilinear_upsample, bilinear_upsampling_matrix, block_dct,
)
from recognizer.image_files import load_identity_folders


def test_upsampling_matrix_hand_computed():
    # n=2, ×2: outputs at input positions 0, 1/3, 2/3, 1 (aligned corners).
    expected = torch.tensor([[1, 0], [2 / 3, 1 / 3], [1 / 3, 2 / 3], [0, 1]], dtype=torch.float64)
    assert torch.allclose(bilinear_upsampling_matrix(2, 2), expected, atol=1e-15)


@pytest.mark.parametrize("n, factor", [(1, 8), (5, 3), (14, 8), (16, 2)])
def test_upsampling_matrix_is_what_interpolate_applies(n, factor):
    x = torch.from_numpy(np.random.default_rng(n).uniform(0, 255, (2, 1, n, n + 1)))
    rows, cols = bilinear_upsampling_matrix(n, factor), bilinear_upsampling_matrix(n + 1, factor)
    assert (rows @ x @ cols.T - bilinear_upsample(x, factor)).abs().max() < 1e-12


@pytest.mark.parametrize("channels, factor", [(1, 8), (3, 8), (3, 2)])
def test_upsampled_round_trip_is_exact_to_rounding(channels, factor):
    # U has full column rank, so its pseudo-inverse undoes it: float64 ~1e-12 (pixels 0..255), float32 ~1e-4.
    x = torch.from_numpy(np.random.default_rng(factor).uniform(0, 255, (2, channels, 16, 24)))
    t = FrequencyTransform(channels, upsample=factor)
    assert (t.inverse(t(x)) - x).abs().max() < 1e-9
    assert (t.inverse(t(x.float())) - x.float()).abs().max() < 1e-3


def test_inverse_of_modified_coefficients_is_the_least_squares_image():
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (1, 1, 8, 16)))
    t = FrequencyTransform(1, "no-dc", upsample=8)
    estimate = t.inverse(t(x))
    # What the inverse sees once DC is gone: the upsampled image minus its block means, level shift back on.
    upsampled = bilinear_upsample(x, 8)
    seen = upsampled - F.interpolate(F.avg_pool2d(upsampled, 8), scale_factor=8) + 128
    rows, cols = bilinear_upsampling_matrix(8, 8), bilinear_upsampling_matrix(16, 8)
    residual = rows @ estimate @ cols.T - seen
    # Normal equations of min ||U e V^T - seen||: the residual is orthogonal to the range of the upsampling.
    assert residual.abs().max() > 1  # the DC really is lost, so this is not the exact round trip again
    assert (rows.T @ residual @ cols).abs().max() < 1e-8
    assert torch.allclose(bilinear_downsampling_matrix(8, 8) @ rows, torch.eye(8, dtype=torch.float64), atol=1e-12)


@pytest.mark.data
def test_no_dc_x8_keeps_real_ac_energy_on_real_faces(shared_data):
    faces = load_identity_folders(shared_data("orl"), image_size=112).images[::40].double()  # one face per 4 ids
    coeffs = FrequencyTransform(1, "no-dc", upsample=8)(faces)
    upsampled = bilinear_upsample(faces, 8)
    variance_energy = ((upsampled - upsampled.mean(dim=(1, 2, 3), keepdim=True)) ** 2).sum(dim=(1, 2, 3))
    ac_share = (coeffs ** 2).sum(dim=(1, 2, 3)) / variance_energy
    # Measured 0.3%..1% on ORL (the AC of a bilinear block is the local slope); nearest-neighbour ×8 gives ~1e-15.
    assert (ac_share > 1e-3).all() and coeffs.abs().amax(dim=(1, 2, 3)).min() > 10
    nearest_ac = block_dct(F.interpolate(faces, scale_factor=8, mode="nearest"))[:, 1:]
    assert (nearest_ac ** 2).sum() / variance_energy.sum() < 1e-12


@pytest.mark.slow
@pytest.mark.data
def test_no_dc_x8_trains_a_recognizer_on_real_faces(shared_data, tmp_path):
    # ORL at 32 px, 60 steps, k=2: identification 0.92 / 0.945 / 0.89 (seeds 0 / 1 / 2); nearest-neighbour ×8
    # (AC = rounding noise) reached 0.335 at seed 0.
    out = tmp_path / "run"
    code = main(["train", "--data", str(shared_data("orl")), "--image-size", "32", "--upsample", "8", "--channels",
                 "no-dc", "--agent", "fixed", "--k", "2", "--steps", "60", "--seed", "0", "--no-progress",
                 "--out", str(out)])
    assert code == 0
    assert json.loads((out / "metrics.json").read_text())["identification_accuracy"] >= 0.75
