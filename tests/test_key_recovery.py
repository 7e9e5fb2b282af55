"""Black-box key and channel-set recovery: the statistics of the protected tensors give the secret away."""
import numpy as np
import pytest
import torch

import attacks.privacy as privacy
from attacks.budget import get_budget
from attacks.key_recovery import log_energy_maps, recover_channels, recovered_belief
from attacks.privacy import black_box_belief
from attacks.protection import Protection, black_box_guess
from freqmix.experiment.defenses import secret_key
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.data import load_dataset
from recognizer.splits import private_split


@pytest.fixture(scope="module")
def orl(shared_data):
    full = load_dataset(shared_data("orl"), image_size=112, seed=0)
    return private_split(full, 0.5, seed=0)


@pytest.mark.parametrize("k", [1, 4])
def test_recovers_the_hybrid_masks_channels_and_key_exactly_on_orl(orl, k):
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {k: 1.0})
    tensors = truth.protect_all(orl.train.images.float(), orl.train.labels, np.random.default_rng(1)).tensors
    belief, recovery = recovered_belief(black_box_guess(truth, 5), tensors, orl.auxiliary.images, seed=0)
    assert recovery.recovered_fraction(truth.transform) == 1.0
    assert torch.equal(belief.transform.kept, truth.transform.kept)
    # The recovered belief scatters the observed channels exactly as the truth does.
    assert torch.equal(belief.scatter(tensors), truth.scatter(tensors))
    assert belief.mixes == (k > 1)


def test_most_of_the_key_is_recovered_when_each_tensor_keeps_a_random_quarter(orl):
    # The partial defense: 9 of the 36 channels live per tensor. 100 tensors give ~25 live samples per channel.
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(1)), {1: 1.0}, Recipe(drop=0.75))
    tensors = truth.protect_all(orl.train.images.float(), orl.train.labels, np.random.default_rng(1)).tensors
    assert recover_channels(tensors, orl.auxiliary.images).recovered_fraction(truth.transform) >= 0.8


@pytest.mark.parametrize("k", [1, 4])
def test_the_black_box_belief_holds_the_true_key_and_the_guessed_k(orl, k):
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {k: 1.0})
    tensors = truth.protect_all(orl.train.images.float(), orl.train.labels, np.random.default_rng(2)).tensors
    belief, recovery = black_box_belief(tensors, orl.auxiliary, black_box_guess(truth, 0), seed=0)
    assert recovery.recovered_fraction(truth.transform) == 1.0
    assert torch.equal(belief.transform.kept, truth.transform.kept)
    # k is not read from the (biased) energy shrink: the guess's rule stays.
    assert belief.k_probs == black_box_guess(truth, 0).k_probs


def test_an_unshuffled_selection_is_recovered_in_ascending_order(orl):
    truth = Protection.of(FrequencyTransform(1, "no-dc"), {1: 1.0})
    tensors = truth.transform(orl.train.images.float())
    belief, recovery = recovered_belief(black_box_guess(truth, 5), tensors, orl.auxiliary.images, seed=0)
    assert torch.equal(belief.transform.kept, torch.arange(1, 64))
    plain = Protection.of(FrequencyTransform(1), {1: 1.0})
    belief, _ = recovered_belief(black_box_guess(plain, 5), plain.transform(orl.train.images.float()),
                                 orl.auxiliary.images, seed=0)
    assert torch.equal(belief.transform.kept, torch.arange(64))


def test_a_random_guess_is_what_recovery_replaces(orl):
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {1: 1.0})
    guess = black_box_guess(truth, 5)
    assert (guess.transform.kept == truth.transform.kept).double().mean() < 0.2


def test_the_recovered_order_is_kept_by_the_transform():
    kept = [5, 3, 60, 1]
    transform = FrequencyTransform.from_kept(1, kept)
    images = torch.arange(16 * 16, dtype=torch.float32).view(1, 1, 16, 16)
    full = FrequencyTransform(1)(images)
    assert torch.equal(transform(images), full[:, kept])
    assert torch.allclose(FrequencyTransform(1, kept).inverse(full[:, sorted(kept)]),
                          transform.inverse(full[:, kept]), atol=1e-4)


def test_log_energy_maps_and_bad_shapes():
    coeffs = torch.full((4, 2, 3, 3), 2.0)
    assert torch.allclose(log_energy_maps(coeffs), torch.full((2, 3, 3), np.log(4.0 + 1e-6), dtype=torch.float64))
    # A plane dropped from a tensor (all zeros) is left out of its channel's mean, not averaged in as energy 0.
    coeffs[1:, 0] = 0
    assert torch.allclose(log_energy_maps(coeffs), torch.full((2, 3, 3), np.log(4.0 + 1e-6), dtype=torch.float64))
    with pytest.raises(FreqmixError, match="size"):
        recover_channels(torch.zeros(2, 4, 3, 3), torch.zeros(2, 1, 16, 16))


def test_the_attacker_reads_the_key_off_every_observed_tensor_not_only_the_attacked_ones(orl, monkeypatch):
    # The frontier budget reconstructs and judges two faces per identity; the secrets come from all the tensors.
    seen = {}

    def spy(observed, auxiliary, guess, seed):
        seen["observed"] = len(observed)
        raise RuntimeError("stop here")

    monkeypatch.setattr(privacy, "black_box_belief", spy)
    kit = privacy.AttackerKit(orl.train, orl.auxiliary, None, 1.0, None, 1.0, None, orl.auxiliary)
    recognizer = type("R", (), {"config": {"num_classes": orl.train.num_identities}})()
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {1: 1.0})
    with pytest.raises(RuntimeError, match="stop here"):
        privacy.attack_recognizer(recognizer, truth, kit, get_budget("frontier"), seed=0, progress=False)
    assert get_budget("frontier").attacked_per_identity == 2 and seen["observed"] == len(orl.train) == 100
