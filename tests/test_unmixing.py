"""The batch observer's attack: FastICA separates a batch of mixes back into its faces' k = 1 tensors, the signs and
scales come from what the method makes public, and on a defense that mixes nothing it changes nothing."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from attacks.attack import AttackSetting, reconstruct_observed
from attacks.budget import get_budget
from attacks.decoder_attacks import decoder_black_box, decoder_white_box
from attacks.protection import Protection, black_box_guess
from attacks.registry import ATTACKS
from attacks.unmixing import (BatchUnmixing, separate_batches, unmix_black_box, unmix_pooled, unmix_white_box,
                              unmixed_belief)
from freqmix.experiment.defenses import secret_key
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform
from mixup_env.separation import assign_sources, separate
from recognizer.data import load_dataset, synthetic_faces
from recognizer.splits import private_split, split_identities


@pytest.fixture(scope="module")
def orl(shared_data):
    full = load_dataset(shared_data("orl"), image_size=112, seed=0)
    return private_split(full, 0.5, seed=0)


def _hybrid(k: int) -> Protection:
    return Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {k: 1.0}, batch_size=32)


def _correlations(estimates: torch.Tensor, truths: torch.Tensor) -> np.ndarray:
    """(N, M) Pearson correlation of every estimate with every true tensor."""
    a, b = estimates.flatten(1).double(), truths.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a / a.norm(dim=1, keepdim=True) @ (b / b.norm(dim=1, keepdim=True)).T).numpy()


@pytest.mark.parametrize("k", [2, 4, 6])
def test_separation_recovers_orl_batches_of_mixes(orl, k):
    truth = _hybrid(k)
    faces = orl.train.images.float()  # 100 private training faces: batches of 32, 32 and 36
    observed = truth.protect_all(faces, orl.train.labels, np.random.default_rng(1))
    clean = truth.transform(faces)
    separated = separate_batches(observed.tensors, observed.batches, seed=0)
    corr = _correlations(separated, clean)
    # Every true k = 1 tensor is found among the separated ones (the bar: median >= 0.9; measured 0.99).
    assert np.median(corr.max(axis=0)) >= 0.95
    # Each row is assigned a face that it mixes, and mostly a different one from every other row of its batch.
    shown = corr.argmax(axis=1)
    mixed_in = [int(shown[i]) in observed.components[i].tolist() for i in range(len(faces))]
    assert np.mean(mixed_in) >= 0.9
    # Signs and scales from the method's public facts: positive weights that sum to 1 per row.
    own = torch.from_numpy(shown)
    error = (separated - clean[own]).flatten(1).norm(dim=1) / clean[own].flatten(1).norm(dim=1)
    assert error.median() < 0.25


def test_a_batch_is_separated_from_its_own_rows_alone(orl):
    truth = _hybrid(4)
    observed = truth.protect_all(orl.train.images.float(), orl.train.labels, np.random.default_rng(2))
    first, second = observed.batches[0], observed.batches[1]
    before = separate_batches(observed.tensors, observed.batches, seed=3)
    changed = observed.tensors.clone()
    changed[second] = changed[second].flip(0)
    after = separate_batches(changed, observed.batches, seed=3)
    assert torch.equal(before[first], after[first]) and not torch.equal(before[second], after[second])


def test_separation_is_deterministic_and_refuses_what_it_cannot_separate():
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    truth = Protection.of(FrequencyTransform(1, "high", 36, key=3), {2: 1.0}, batch_size=8)
    tensors = truth.protect(faces.images[:8].float(), faces.labels[:8], np.random.default_rng(0)).x
    once, again = separate(tensors, seed=1), separate(tensors, seed=1)
    assert torch.equal(once.sources, again.sources) and torch.equal(once.assignment, again.assignment)
    assert sorted(once.assignment.tolist()) == list(range(8))
    with pytest.raises(FreqmixError, match="at least 2"):
        separate(tensors[:1], seed=0)
    with pytest.raises(FreqmixError, match="more coefficients"):
        separate(tensors[:, :1, :1, :1].expand(8, 1, 1, 1).contiguous(), seed=0)


def test_the_black_box_attacker_reads_the_key_off_the_separated_tensors(orl):
    truth = _hybrid(4)
    observed = truth.protect_all(orl.train.images.float(), orl.train.labels, np.random.default_rng(1))
    guess = black_box_guess(truth, 5)
    # What it read off the mixes does not enter: a belief whose order came from statistics says nothing of a key.
    misread = replace(guess, transform=FrequencyTransform.from_kept(1, range(36)))
    setting = AttackSetting(truth, observed, guess, misread, orl.auxiliary, orl.auxiliary, None, torch.arange(2), None,
                            get_budget("smoke"), seed=0, shared={})
    attack = unmix_black_box(setting)
    assert attack.recovery.recovered_fraction(truth.transform) == 1.0
    assert attack.attack.protection.transform.kept.tolist() == truth.transform.kept.tolist()


def _setting(truth: Protection, shared: dict) -> AttackSetting:
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    private, aux = split_identities(faces, 0.5, seed=0)
    observed = truth.protect_all(private.images.float(), private.labels, np.random.default_rng(0))
    guess = black_box_guess(truth, 1)
    belief = replace(guess, transform=truth.transform)  # the key read off, as on real faces
    return AttackSetting(truth, observed, guess, belief, aux, aux, None, torch.arange(2), None, get_budget("smoke"), seed=0,
                         shared=shared)


def test_on_a_defense_that_mixes_nothing_the_attack_is_the_decoder():
    shared = {}
    setting = _setting(Protection.of(FrequencyTransform(1, "high", 36, key=3), {1: 1.0}, batch_size=8), shared)
    decoder = decoder_white_box(setting)
    assert unmix_white_box(setting) is decoder and unmix_pooled(setting) is decoder
    assert unmix_black_box(setting) is decoder_black_box(setting)
    assert torch.equal(reconstruct_observed(unmix_white_box(setting), setting.observed),
                       decoder.reconstruct(setting.observed.tensors))


def test_on_a_mixing_defense_the_attack_separates_then_decodes_under_the_unmixed_belief():
    shared = {}
    truth = Protection.of(FrequencyTransform(1, "high", 36, key=3), {2: 1.0}, batch_size=6)
    setting = _setting(truth, shared)
    attack = unmix_white_box(setting)
    assert isinstance(attack, BatchUnmixing) and attack.attack.protection == unmixed_belief(truth)
    observed = setting.observed
    expected = attack.attack.reconstruct(separate_batches(observed.tensors, observed.batches, attack.seed))
    assert torch.equal(reconstruct_observed(attack, observed), expected)
    rows = torch.tensor([3, 0])
    assert torch.equal(reconstruct_observed(attack, observed, rows), expected[rows])
    # The pooled attacker shares the decoder and separates the whole set at once.
    pooled = unmix_pooled(setting)
    assert pooled.pooled and pooled.attack is attack.attack
    assert torch.equal(reconstruct_observed(pooled, observed),
                       attack.attack.reconstruct(separate_batches(observed.tensors, [torch.arange(8)], pooled.seed)))


def test_the_attack_is_registered_from_one_file():
    unmixing = {name: attack for name, attack in ATTACKS.items() if name.startswith("unmix")}
    assert set(unmixing) == {"unmix_white_box", "unmix_black_box", "unmix_pooled"}
    assert {attack.fit.__module__ for attack in unmixing.values()} == {"attacks.unmixing"}
    assert [attack.black_box for attack in unmixing.values()] == [False, True, False]


def test_rows_show_distinct_faces_they_mix_and_never_one_they_do_not():
    # Source 2 holds no share of any row (a badly separated source): a permutation forced through every weight would
    # give it to a row; the held-share rule gives that row its largest-weight source instead (by hand: [0, 1, 1]).
    weights = np.array([[0.7, 0.3, 0.0], [0.0, 1.0, 0.0], [0.2, 0.8, 0.0]])
    assert assign_sources(weights).tolist() == [0, 1, 1]
    assert assign_sources(np.eye(3)[[2, 0, 1]]).tolist() == [2, 0, 1]


def test_a_separation_fitted_on_a_sample_of_positions_still_finds_the_faces(orl):
    truth = _hybrid(4)
    faces = orl.train.images[:32].float()
    batch = truth.protect(faces, orl.train.labels[:32], np.random.default_rng(4))
    clean = truth.transform(faces)
    sampled = separate(batch.x, seed=0, samples=2048)
    assert np.median(np.abs(_correlations(sampled.sources, clean)).max(axis=0)) >= 0.95
    # A sample as large as the tensor is the tensor.
    assert torch.equal(separate(batch.x, seed=0, samples=10**6).sources, separate(batch.x, seed=0).sources)


@pytest.mark.parametrize("channels", ["all", "no-dc"])
def test_mixes_of_every_channel_are_separated_from_their_sparse_channels(orl, channels):
    # Fitted on all 64 channels the faces' alike low frequencies break ICA's independence (median 0.58 at k = 4);
    # the lowest-energy channels, found without the key, give the mixing that unmixes all of them.
    transform = FrequencyTransform(1, channels, key=3)
    faces = orl.train.images[:32].float()
    batch = Protection.of(transform, {4: 1.0}, batch_size=32).protect(faces, orl.train.labels[:32],
                                                                    np.random.default_rng(0))
    found = np.abs(_correlations(separate(batch.x, seed=0).sources, transform(faces))).max(axis=0)
    assert np.median(found) >= 0.95
