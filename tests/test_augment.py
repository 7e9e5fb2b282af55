"""Random shift augmentation: exact pixels against a hand-built translation, and reproducibility."""
import numpy as np
import torch

from freqmix.experiment.config import TrainConfig
from recognizer.augment import random_offsets, random_shift, translate, undo_translation


def test_shift_moves_pixels_and_replicates_borders():
    x = torch.arange(36, dtype=torch.uint8).reshape(1, 1, 6, 6)
    offsets = np.random.default_rng(0).integers(0, 5, size=(1, 2))[0]  # what random_shift will draw
    dy, dx = int(offsets[0]) - 2, int(offsets[1]) - 2
    out = random_shift(x, 2, np.random.default_rng(0))
    expected = torch.empty(6, 6)
    for r in range(6):
        for c in range(6):
            expected[r, c] = x[0, 0, min(max(r + dy, 0), 5), min(max(c + dx, 0), 5)]
    assert out.dtype == torch.float32 and torch.equal(out[0, 0], expected)


def test_each_image_gets_its_own_offset_and_channels_move_together():
    x = torch.rand(16, 3, 16, 16) * 255
    out = random_shift(x, 3, np.random.default_rng(1))
    diffs = {(out[i] - x[i]).abs().sum().item() for i in range(16)}
    assert len(diffs) > 1
    assert torch.equal(random_shift(x, 3, np.random.default_rng(1)), out)


def test_zero_shift_is_identity():
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(random_shift(x, 0, np.random.default_rng(0)), x.float())


def test_pose_light_jitter_keeps_a_flat_face_flat_and_moves_it_within_the_lighting_bounds():
    from attacks.augment import MAX_BRIGHTNESS_CHANGE, pose_light_jitter

    flat = torch.full((8, 1, 16, 16), 100.0)
    out = pose_light_jitter(flat, 2, torch.Generator().manual_seed(0))
    # Geometry (border pixels repeat) leaves a constant image constant; contrast about its mean does too.
    spread = out.amax(dim=(1, 2, 3)) - out.amin(dim=(1, 2, 3))
    assert spread.max() < 1e-3
    moved = out[:, 0, 0, 0] - 100
    assert moved.abs().max() <= MAX_BRIGHTNESS_CHANGE and len(set(moved.round(decimals=3).tolist())) == 8


def test_pose_light_jitter_is_seeded_and_changes_faces():
    from attacks.augment import pose_light_jitter

    x = torch.rand(4, 1, 32, 32) * 255
    first = pose_light_jitter(x, 4, torch.Generator().manual_seed(3))
    assert torch.equal(first, pose_light_jitter(x, 4, torch.Generator().manual_seed(3)))
    assert first.shape == x.shape and first.min() >= 0 and first.max() <= 255
    assert ((first - x).abs().mean(dim=(1, 2, 3)) > 1).all()


def test_a_translation_is_undone_exactly_away_from_the_borders_it_replicated():
    x = torch.rand(8, 2, 20, 20) * 255
    offsets = random_offsets(8, 3, np.random.default_rng(4))
    moved = translate(x, offsets, 3)
    assert torch.equal(moved, random_shift(x, 3, np.random.default_rng(4)))  # the offsets random_shift draws
    back = undo_translation(moved, offsets, 3)
    assert torch.equal(back[..., 6:-6, 6:-6], x[..., 6:-6, 6:-6]) and not torch.equal(back, x)


def test_a_shift_step_of_8_moves_faces_by_whole_blocks_only_in_the_run_s_env():
    images = torch.arange(4 * 32 * 32, dtype=torch.float32).reshape(4, 1, 32, 32) % 251
    moved = random_shift(images, 8, np.random.default_rng(3), step=8)
    for i in range(4):
        found = [(dy, dx) for dy in (-8, 0, 8) for dx in (-8, 0, 8)
                 if torch.equal(moved[i, :, 8:-8, 8:-8], images[i, :, 8 - dy:24 - dy, 8 - dx:24 - dx])]
        assert len(found) == 1
    config = TrainConfig.of(augment_step=8)
    assert config.env_config().augment_step == 8
