"""Accuracy floors on real faces: ORL, 5/5 split per identity, the default training budget of ``freqmix train``."""
import json

import pytest

from freqmix.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.data]


@pytest.mark.parametrize("k, channels, floor", [(1, "all", 0.95), (4, "no-dc", 0.85)])
def test_orl_identification_floor(shared_data, tmp_path, k, channels, floor):
    out = tmp_path / f"orl_k{k}"
    code = main(["train", "--data", str(shared_data("orl")), "--agent", "fixed", "--k", str(k), "--channels", channels,
                 "--seed", "0", "--no-progress", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mean_k"] == k
    assert metrics["identification_accuracy"] >= floor, metrics
