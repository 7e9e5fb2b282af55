"""The defense registry: names, overrides that make valid training configs, and the secret key."""
import pytest

from attacks.defenses import DEFENSES, defense_overrides, parse_defenses, secret_key
from freqmix.train import TrainConfig


def test_every_defense_makes_a_valid_config():
    for name in DEFENSES:
        config = TrainConfig(**defense_overrides(name, seed=3))
        assert config.upsample == 1


def test_the_issue_s_defenses_are_all_there():
    expected = {"none", "ppfr", "dctdp", "instahide", "fixed2", "fixed3", "fixed4", "fixed5", "fixed6", "random",
                "adaptive"}
    assert set(DEFENSES) == expected


def test_defenses_set_every_protection_field():
    fields = {k for spec in DEFENSES.values() for k in spec}
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
    with pytest.raises(ValueError, match="unknown defense 'fixed9'"):
        parse_defenses("none,fixed9")
    with pytest.raises(ValueError, match="empty"):
        parse_defenses(" , ")
