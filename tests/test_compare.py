"""``freqmix compare`` on tiny synthetic faces: every output file, the table's columns, one-line errors."""
import csv
import json

import pytest

from attacks.budget import BUDGETS, AttackBudget
from freqmix.cli import main
from freqmix.compare import COLUMNS

TINY = AttackBudget("tiny", recognizer_epochs=1, evaluator_steps=4, cgan_steps=2, cgan_batch=8, cgan_width=8,
                    prior_steps=2, inversion_steps=2, inversions_per_identity=1)


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(BUDGETS, "smoke", TINY)
        argv = ["compare", "--data", "synthetic", "--image-size", "32", "--defenses", "fixed2,none,adaptive",
                "--budget", "smoke", "--steps", "3", "--batch-size", "8", "--embedding-dim", "16", "--seed", "1",
                "--out", str(out), "--no-progress", "--threads", "1"]
        assert main(argv) == 0
    return out


def test_compare_writes_every_file(compare_dir):
    for name in ("compare.csv", "compare.md", "compare.json", "compare.png", "config.json"):
        assert (compare_dir / name).is_file(), name
    for defense in ("none", "fixed2", "adaptive"):
        assert (compare_dir / defense / "privacy.json").is_file()


def test_table_rows_and_columns(compare_dir):
    with open(compare_dir / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["defense"] for row in rows] == ["fixed2", "none", "adaptive"]  # the order asked for
    assert set(COLUMNS) <= set(rows[0])
    by_name = {row["defense"]: row for row in rows}
    assert float(by_name["none"]["score_cls"]) == pytest.approx(1.0)
    assert float(by_name["fixed2"]["mean_k"]) == 2.0
    table = (compare_dir / "compare.md").read_text()
    assert "| defense | identification_accuracy" in table and "| adaptive |" in table


def test_resolved_config_is_saved(compare_dir):
    config = json.loads((compare_dir / "config.json").read_text())
    assert config["defenses"] == ["fixed2", "none", "adaptive"] and config["base"]["seed"] == 1
    assert config["budget"]["name"] == "tiny" and config["base"]["private_fraction"] == 0.5
    assert config["defense_overrides"]["adaptive"]["agent"] == "reinforce"
    assert json.loads((compare_dir / "none" / "config.json").read_text())["steps"] == 3


def test_unknown_defense_is_one_line(tmp_path, capsys):
    assert main(["compare", "--defenses", "none,bogus", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("freqmix: error: unknown defense 'bogus'; choose from none, ppfr, dctdp, instahide, fixed2, "
                   "fixed3, fixed4, fixed5, fixed6, random, adaptive")
