"""``freqmix ablate``: every agent × seed with the same budget, the per-agent table, CSVs and plot."""
import csv
import json

import numpy as np
import pytest
import torch

from freqmix.ablate import AgentChoice, beyond_noise, parse_agents, summarize
from freqmix.cli import main

TINY_ARGS = ["--image-size", "32", "--batch-size", "12", "--embedding-dim", "32", "--steps", "8", "--no-progress"]


def test_ablate_writes_tables_and_plot(tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["ablate", "--agents", "reinforce,fixed:6,random", "--seeds", "2", *TINY_ARGS,
                     "--hp", "ent_coef=0.05", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    with open(tmp_path / "runs.csv", newline="") as f:
        runs = list(csv.DictReader(f))
    assert [(r["agent"], r["seed"]) for r in runs] == [(a, s) for a in ("reinforce", "fixed:6", "random")
                                                      for s in ("0", "1")]
    fixed = [r for r in runs if r["agent"] == "fixed:6"]
    assert all(float(r["mean_k"]) == 6.0 for r in fixed) and "late_k" not in runs[0]  # 8 steps: no late window
    assert (tmp_path / "reinforce" / "seed1" / "agent.zip").is_file()
    assert (tmp_path / "fixed_k6" / "seed0" / "steps.csv").is_file()
    with open(tmp_path / "ablation.csv", newline="") as f:
        summary = list(csv.DictReader(f))
    assert [row["agent"] for row in summary] == ["reinforce", "fixed:6", "random"]
    rewards = [float(r["mean_reward"]) for r in runs if r["agent"] == "random"]
    assert float(summary[2]["mean_reward_mean"]) == pytest.approx(np.mean(rewards))
    assert float(summary[2]["mean_reward_std"]) == pytest.approx(np.std(rewards, ddof=1))
    table = (tmp_path / "ablation.md").read_text().splitlines()
    assert table[2].startswith("| agent | identification accuracy |") and table[7] == "" and "last" not in table[2]
    assert table[5].startswith("| fixed:6 |") and "6.00 ± 0.00 [6.00, 6.00]" in table[5]
    assert "constrained" in table[0] and any(line.startswith("| mean k |") for line in table[8:])
    hyperparams = [json.loads((tmp_path / name / "seed0" / "config.json").read_text())["agent"]["hyperparams"]
                   for name in ("reinforce", "fixed_k6")]
    assert hyperparams == [{"ent_coef": 0.05}, {"k": 6}]  # --hp reaches the learning agents only
    assert (tmp_path / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert "| reinforce |" in capsys.readouterr().out


def test_parse_agents():
    assert parse_agents("reinforce, fixed:4,,random") == [AgentChoice("reinforce", "reinforce"),
                                                         AgentChoice("fixed:4", "fixed", 4),
                                                         AgentChoice("random", "random")]
    for bad in ("ppo:3", "fixed:x", " , "):
        with pytest.raises(ValueError):
            parse_agents(bad)


def test_unknown_agent_fails_before_any_run(tmp_path, capsys):
    assert main(["ablate", "--agents", "fixed,sarsa", *TINY_ARGS, "--out", str(tmp_path)]) == 2
    assert "unknown agent 'sarsa'" in capsys.readouterr().err
    assert not (tmp_path / "fixed").exists()


def test_summary_of_one_seed_has_no_spread_or_interval():
    run = {"agent": "a", "identification_accuracy": 0.5, "verification_accuracy": 0.6, "mean_k": 3.0,
           "late_k": 4.0, "mean_reward": 1.0, "wall_seconds": 2.0}
    (row,) = summarize([run])
    assert row["seeds"] == 1 and row["mean_k_mean"] == 3.0 and row["late_k_mean"] == 4.0
    assert all(np.isnan(row[f"mean_k_{part}"]) for part in ("std", "ci_low", "ci_high"))


def test_only_agents_whose_intervals_do_not_overlap_differ_beyond_noise():
    def runs(agent, values):
        return [{"agent": agent, "identification_accuracy": v, "verification_accuracy": v, "mean_k": 2.0,
                 "late_k": 2.0, "mean_reward": 0.0, "wall_seconds": 1.0} for v in values]

    summary = summarize(runs("a", [0.90, 0.91, 0.92]) + runs("b", [0.70, 0.72, 0.71]) + runs("c", [0.69, 0.80, 0.95]))
    a, b, c = summary
    assert (a["identification_accuracy_ci_low"], a["identification_accuracy_ci_high"]) == pytest.approx((0.90, 0.92))
    assert beyond_noise(summary, "identification_accuracy") == [("a", "b")]  # c's seeds spread over both
    assert beyond_noise(summary, "mean_k") == []
