"""Exposure over training: a face's exposures linked over epochs wash its partners out; its best single exposure
is at least as close to it as any one epoch's."""
import numpy as np
import pytest
import torch

from attacks.exposure import EXPOSURES, epoch_exposures, identity_merged, merged_belief, run_exposures
from attacks.metrics import ssim
from attacks.protection import Protection
from freqmix_base.errors import FreqmixError
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.augment import random_offsets
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def setting():
    faces = synthetic_faces(num_identities=8, images_per_identity=4, image_size=32, seed=0)
    truth = Protection.of(FrequencyTransform(1, key=3), {2: 1.0}, batch_size=16)
    return faces, truth, AnalyticInverse.fit(truth.transform, faces.images)


def test_an_epoch_exposes_each_face_as_the_mean_of_the_rows_that_show_it_best(setting):
    faces, truth, analytic = setting
    x = faces.images.float()
    observed = truth.protect_all(x, faces.labels, np.random.default_rng(0))
    rebuilt = analytic.reconstruct(observed.tensors)
    wanted = torch.tensor([0, 5, 31])
    exposed = epoch_exposures(observed, rebuilt, x, wanted)
    # By hand: every row's best-matching component by SSIM, then the rows of each wanted face.
    best = []
    for row in range(len(x)):
        mixed = observed.components[row][observed.components[row] >= 0]
        scores = ssim(rebuilt[row:row + 1].expand(len(mixed), -1, -1, -1), x[mixed])
        best.append(int(mixed[int(np.argmax(scores))]))
    for m, face in enumerate(wanted.tolist()):
        shown = [row for row, b in enumerate(best) if b == face] or [face]
        assert torch.allclose(exposed[m], rebuilt[shown].mean(dim=0), atol=1e-4)


def test_more_linked_epochs_leak_more_and_the_best_exposure_beats_the_first(setting):
    faces, truth, analytic = setting
    x = faces.images.float()
    wanted = torch.arange(len(x))
    exposures = run_exposures(truth, analytic, faces.images, faces.labels, wanted, np.random.default_rng(1))
    assert set(exposures.linked) == set(EXPOSURES)
    leaks = [ssim(exposures.linked[e], x).mean() for e in EXPOSURES]
    assert leaks[0] < leaks[1] < leaks[2]
    # The best of 20 single exposures is per face at least the first epoch's (E = 1 is one exposure).
    assert (ssim(exposures.best, x) >= ssim(exposures.linked[1], x) - 1e-6).all()
    # Partners wash out towards a blur, so 20 linked epochs sit nearer the face than one mix does (14.8 vs 16.9).
    assert (exposures.linked[20] - x).abs().mean() < 0.9 * (exposures.linked[1] - x).abs().mean()


@pytest.mark.parametrize("recipe, k, deterministic", [
    (Recipe(), 1, True),  # ppfr: masked and shuffled, nothing random
    (Recipe(), 2, False),
    (Recipe(drop=0.75), 1, False),  # partial: each tensor keeps its own random channels
    (Recipe(laplace_epsilon=1.0), 1, False),  # dctdp: fresh noise
    (Recipe(sign_flip=True), 1, False),
    (Recipe(drop=0.75, drop_secret=True), 1, True),  # partial-secret: each face keeps its own channels every epoch
])
def test_a_deterministic_protection_exposes_a_face_alike_in_every_epoch(setting, recipe, k, deterministic):
    # The evaluation reads E epochs of a deterministic protection as the observed one (privacy.py's _exposure).
    faces, _, _ = setting
    truth = Protection.of(FrequencyTransform(1, "high", key=3), {k: 1.0}, recipe, batch_size=16)
    analytic = AnalyticInverse.fit(truth.transform, faces.images)
    x = faces.images.float()
    wanted = torch.arange(len(x))
    epochs = [truth.protect_all(x, faces.labels, np.random.default_rng(seed), named=True) for seed in (0, 1)]
    once, again = (epoch_exposures(o, analytic.reconstruct(o.tensors), x, wanted) for o in epochs)
    assert truth.deterministic == deterministic
    assert torch.allclose(once, again, atol=1e-3) == deterministic


@pytest.mark.parametrize("recipe", [Recipe(drop=0.75), Recipe(drop=0.75, sign_flip=True)])
def test_merged_exposures_give_back_the_face_s_tensor_where_nothing_is_mixed(setting, recipe):
    faces, _, _ = setting
    # Shifted exposures (the linked reading's) still merge tensors that line up.
    truth = Protection.of(FrequencyTransform(1, "high", key=3), {1: 1.0}, recipe, batch_size=16, shift=2)
    x = faces.images.float()
    wanted = torch.tensor([0, 7, 30])
    analytic = AnalyticInverse.fit(truth.transform, faces.images)
    exposures = run_exposures(truth, analytic, faces.images, faces.labels, wanted, np.random.default_rng(0))
    assert set(exposures.merged) == {e for e in EXPOSURES if e > 1}
    clean = truth.readable(truth.transform(x[wanted]))  # magnitudes where signs are flipped
    # Each plane the face's own wherever one of 20 exposures kept it (a quarter each).
    planes = (exposures.merged[20] - clean).abs().amax(dim=(2, 3)) < 1e-3
    assert planes.double().mean() >= 0.97
    assert merged_belief(truth).recipes == {Recipe(sign_flip=recipe.sign_flip): 1.0}


def test_nothing_is_merged_where_faces_are_mixed(setting):
    faces, truth, analytic = setting
    exposures = run_exposures(truth, analytic, faces.images, faces.labels, torch.arange(3), np.random.default_rng(0))
    assert exposures.merged == {}


def test_where_only_the_training_shift_differs_the_linked_reading_moves_each_exposure_back(setting):
    faces, _, _ = setting
    x = faces.images.float()
    wanted = torch.arange(len(x))
    # Every channel kept: each shifted exposure inverts exactly, and moved back it is the face but at the borders.
    exact = Protection.of(FrequencyTransform(1), {1: 1.0}, batch_size=16, shift=2)
    inverse = AnalyticInverse.fit(exact.transform, faces.images)
    linked = run_exposures(exact, inverse, faces.images, faces.labels, wanted, np.random.default_rng(0)).linked
    assert torch.allclose(linked[20][..., 4:-4, 4:-4], x[..., 4:-4, 4:-4], atol=1e-2)
    # The hybrid mask: the block grid sees each face at other phases, and the linked reading averages them.
    masked = Protection.of(FrequencyTransform(1, "high", key=3), {1: 1.0}, batch_size=16, shift=2)
    inverse = AnalyticInverse.fit(masked.transform, faces.images)
    exposures = run_exposures(masked, inverse, faces.images, faces.labels, wanted, np.random.default_rng(0))
    linked = exposures.linked
    assert ssim(linked[20], x).mean() > ssim(linked[1], x).mean() + 0.01
    assert exposures.merged == {}  # one tensor per face but for its shift: nothing to merge
    # Signs flipped afresh read alike as magnitudes: the shift is again all that differs, nothing is merged.
    flipped = Protection.of(masked.transform, {1: 1.0}, Recipe(sign_flip=True), batch_size=16, shift=2)
    assert flipped.exposes_alike and not flipped.deterministic
    exposures = run_exposures(flipped, inverse, faces.images, faces.labels, wanted, np.random.default_rng(0))
    assert exposures.merged == {} and not torch.allclose(exposures.linked[20], exposures.linked[1], atol=1e-3)
    unshifted = Protection.of(masked.transform, {1: 1.0}, batch_size=16)
    linked = run_exposures(unshifted, inverse, faces.images, faces.labels, wanted, np.random.default_rng(0)).linked
    assert torch.allclose(linked[20], linked[1], atol=1e-3)
    with pytest.raises(Exception, match="shift must be >= 0"):
        Protection.of(masked.transform, {1: 1.0}, shift=-1)


def test_shifts_by_whole_blocks_show_the_linked_reading_no_new_phase():
    faces = synthetic_faces(num_identities=8, images_per_identity=4, image_size=64, seed=0)
    x, inner = faces.images.float(), slice(8, -8)
    gains = {}
    for step in (1, 8):
        truth = Protection(FrequencyTransform(1, "high", key=3), {Recipe(): 1.0}, batch_size=16, shift=8,
                           shift_step=step)
        inverse = AnalyticInverse.fit(truth.transform, faces.images)
        linked = run_exposures(truth, inverse, faces.images, faces.labels, torch.arange(len(x)),
                               np.random.default_rng(0)).linked
        gains[step] = (ssim(linked[20][..., inner, inner], x[..., inner, inner]).mean()
                       - ssim(linked[1][..., inner, inner], x[..., inner, inner]).mean())
    # Averaging moved-back exposures still smooths what the inverse fills in, but whole-block moves add no phase.
    assert gains[1] > gains[8] + 0.005
    offsets = random_offsets(1000, 8, np.random.default_rng(0), step=8)
    assert set(offsets.flatten().tolist()) == {0, 8, 16}
    with pytest.raises(FreqmixError, match="whole number of pixels"):
        random_offsets(3, 8, np.random.default_rng(0), step=0)


@pytest.mark.parametrize("flip", [False, True])
def test_a_face_s_secret_drop_is_filled_in_from_its_identity_s_other_faces(setting, flip):
    faces = setting[0]
    truth = Protection.of(FrequencyTransform(1, "high", key=3), {1: 1.0}, Recipe(sign_flip=flip, drop=0.5,
                                                                                 drop_secret=True), batch_size=8)
    wanted = torch.tensor([0, 5, 13])
    filled = identity_merged(truth, faces.images, faces.labels, wanted, np.random.default_rng(0))
    # By hand: the channels each face keeps (fixed per face by the key), and the clean tensors' magnitudes.
    kept = truth.protect_all(faces.images.float(), faces.labels, np.random.default_rng(1), named=True).tensors
    kept = (kept != 0).any(dim=(2, 3))
    clean = truth.transform(faces.images.float())
    clean = clean.abs() if flip else clean
    for m, face in enumerate(wanted.tolist()):
        siblings = [j for j in range(len(faces.labels)) if faces.labels[j] == faces.labels[face] and j != face]
        for c in range(clean.shape[1]):
            donors = [j for j in siblings if kept[j, c]]
            if kept[face, c]:
                expected = clean[face, c]
            else:
                expected = torch.stack([clean[j, c] for j in donors]).mean(dim=0) if donors else 0 * clean[face, c]
            assert torch.allclose(filled[m, c], expected, atol=1e-3), (face, c)
    assert kept[wanted].float().mean() == pytest.approx(0.5)  # half of its own, the rest from the siblings
