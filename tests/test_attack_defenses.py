"""The defense registry: names, the paper's hybrid mask as the default of the mixing defenses, the secret key."""
import pytest
import torch

from attacks.defenses import DEFENSES, defense_overrides, parse_defenses, secret_key
from freqmix.experiment.config import TrainConfig
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform, zigzag_order

MIXING = ["fixed2", "fixed3", "fixed4", "fixed5", "fixed6", "random", "adaptive"]
SCHEDULED_AND_AGENTS = ["linear", "step", "cosine", "reinforce-loss", "reinforce-constrained", "ppo-loss",
                        "ppo-constrained"]


def _transform(name, seed=0):
    config = TrainConfig(**defense_overrides(name, seed))
    return config, FrequencyTransform(1, config.channels, config.n_high, config.key, config.upsample)


def test_the_issue_s_defenses_are_all_there():
    expected = {"none", "ppfr", "dctdp", "instahide", *MIXING, *(f"{name}-nodc" for name in MIXING),
                *SCHEDULED_AND_AGENTS}
    assert set(DEFENSES) == expected


@pytest.mark.parametrize("name", MIXING + SCHEDULED_AND_AGENTS)
def test_mixing_defenses_use_the_hybrid_mask(name):
    # PPFR-FD's mask: the 36 highest zigzag frequencies of the block, shuffled with the run's key, then MixUp.
    config, transform = _transform(name, seed=4)
    ppfr_config, ppfr = _transform("ppfr", seed=4)
    highest = sorted(zigzag_order()[64 - 36:])
    assert sorted(transform.kept.tolist()) == highest and 0 not in transform.kept.tolist()
    assert torch.equal(transform.kept, ppfr.kept) and config.key == secret_key(4)
    assert not torch.equal(transform.kept, torch.tensor(highest))  # shuffled
    assert config.agent != "fixed" or config.k == int(name[5:])


@pytest.mark.parametrize("name", MIXING)
def test_nodc_variants_keep_63_channels_and_the_same_mixing(name):
    config, transform = _transform(f"{name}-nodc")
    hybrid, _ = _transform(name)
    assert sorted(transform.kept.tolist()) == list(range(1, 64))
    assert (config.agent, config.k, config.weights) == (hybrid.agent, hybrid.k, hybrid.weights)


def test_defenses_set_every_protection_field():
    fields = {k for _, spec in DEFENSES.items() for k in spec}
    for name in DEFENSES:
        assert set(DEFENSES[name]) == fields, name


def test_keys_follow_the_seed_and_only_keyed_defenses_have_one():
    assert defense_overrides("none", 0)["key"] is None and defense_overrides("dctdp", 0)["key"] is None
    assert defense_overrides("ppfr", 1)["key"] == secret_key(1) == defense_overrides("fixed4", 1)["key"]
    assert secret_key(1) != secret_key(2)


def test_specific_defenses():
    insta = defense_overrides("instahide", 0)
    assert (insta["k"], insta["sign_flip"], insta["weights"]) == (4, True, "instahide")
    assert defense_overrides("dctdp", 0)["laplace_epsilon"] > 0
    assert defense_overrides("adaptive", 0)["agent"] == "reinforce"
    assert defense_overrides("random", 0)["agent"] == "random"


def test_parse_defenses():
    assert parse_defenses(" none, fixed2 ,none") == ["none", "fixed2"]
    with pytest.raises(FreqmixError, match="unknown defense 'fixed9'.*did you mean"):
        parse_defenses("none,fixed9")
    with pytest.raises(FreqmixError, match="empty"):
        parse_defenses(" , ")
