"""``freqmix frontier``: the privacy–utility frontier experiment in one command.

Every baseline (fixed k in {1..6}, k = 1 being ``ppfr``; the k schedules; random) and every adaptive agent (REINFORCE
and PPO under the ``loss`` and ``constrained`` rewards, REINFORCE under ``constrained`` with a decoder's leakage as
its privacy term) is trained and attacked under N seeds with the hybrid mask through ``freqmix compare``'s machinery
(:func:`freqmix.compare.run_compare`: strongest-attack privacy, bootstrap intervals). Beside them, a policy learned on
faces its deployment never sees: for every seed, REINFORCE learns under the constrained reward over ``--episodes`` whole
runs (``--episode run``) on the auxiliary identities, and the saved policy then acts, without learning, on the private
identities (the ``deployed`` defense).

Files in ``--out``: compare's (``compare.csv/md/json/png``, one folder per defense), ``learn/seedS/`` (the learning
runs of the deployed policy), ``frontier.csv``, ``frontier.md`` (the verdict table) and ``frontier.png`` (the plane
with intervals and the baselines' frontier drawn).

Verdicts, on the plane of identification accuracy (higher = more useful) and strongest-attack SSIM (lower = more
private), with each adaptive point's 95% intervals: ``beyond`` when even its pessimistic corner (lowest accuracy,
highest SSIM of its intervals) is dominated by no baseline; ``inside`` when a baseline dominates even its optimistic
corner; ``within noise`` otherwise. Its options: :mod:`freqmix.frontier_command`.
"""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from attacks.budget import get_budget
from freqmix.compare import COMPARE_FILES, check_defense_hyperparams, error_bars, run_compare
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.defenses import ADAPTIVE_DEFENSES, DEFENSES, SCHEDULE_DEFENSES, defense_of
from freqmix.experiment.launch import run_training
from freqmix.experiment.run_folder import claim_output_folder
from freqmix_base.errors import FreqmixError
from mixup_env.spaces import PAPER_K_CHOICES

# k = 1 is `ppfr` (the hybrid mask unmixed): against the batch observer, who separates mixes, it belongs on the plane.
FIXED_DEFENSES = ("ppfr", *(f"fixed{k}" for k in PAPER_K_CHOICES))
BASELINES = (*FIXED_DEFENSES, *SCHEDULE_DEFENSES)  # the frontier adaptive points are judged against
DEPLOYED = "deployed"
UTILITY, PRIVACY = "identification_accuracy", "ssim"  # x: higher is better; y: lower is better
ONE_SEED = "one seed"  # the verdict where intervals over seeds cannot be drawn
FRONTIER_FILES = (*COMPARE_FILES, "frontier.csv", "frontier.md", "frontier.png", "frontier.json")


def frontier_defenses(deployed: bool) -> list[str]:
    """The defenses of the experiment, baselines first."""
    return [*BASELINES, "random", *ADAPTIVE_DEFENSES, *([DEPLOYED] if deployed else [])]


def learn_deployed_policies(base: TrainConfig, seeds: list[int], episodes: int, out: Path, progress: bool,
                            resume: bool = False) -> str:
    """For each seed, learn REINFORCE under the constrained reward over ``episodes`` whole runs on the auxiliary
    identities (hybrid mask, the seed's key) into ``out/learn/seedS``; register the ``deployed`` defense (the saved
    policy acting on the private identities) and return its name.

    :param resume: keep a seed's policy that an earlier call already learned (its ``metrics.json`` written)."""
    for seed in seeds:
        defense = defense_of("reinforce-constrained", seed)
        config = replace(base.defended_by(defense, base.agent.hyperparams), seed=seed).with_options(
            episode="run", episodes=episodes, train_identities="auxiliary")
        folder = out / "learn" / f"seed{seed}"
        if not (resume and (folder / "metrics.json").is_file()):
            run_training(config, folder, progress=progress, overwrite=True)  # run_frontier claimed ``out``
    template = str((out / "learn" / "seed{seed}" / "agent.zip").resolve())
    if DEPLOYED not in DEFENSES.names():
        fixed2 = DEFENSES.get("fixed2")
        DEFENSES.register(DEPLOYED, replace(fixed2, agent=template, k=None, reward="constrained"))
    elif DEFENSES.get(DEPLOYED).agent != template:
        raise FreqmixError(f"the {DEPLOYED} defense is already registered with another policy in this process")
    return DEPLOYED


def _dominates(b: dict[str, Any], accuracy: float, ssim: float) -> bool:
    return b[UTILITY] >= accuracy and b[PRIVACY] <= ssim


def verdict(point: dict[str, Any], baselines: list[dict[str, Any]]) -> str:
    """``beyond``, ``inside`` or ``within noise`` (see the module docstring) for one adaptive table row;
    ``one seed`` where its accuracy has no interval (a verdict needs at least 2 seeds)."""
    if point[f"{UTILITY}_ci_low"] is None:
        return ONE_SEED
    pessimistic = (point[f"{UTILITY}_ci_low"], point[f"{PRIVACY}_ci_high"])
    optimistic = (point[f"{UTILITY}_ci_high"], point[f"{PRIVACY}_ci_low"])
    if not any(_dominates(b, *pessimistic) for b in baselines):
        return "beyond"
    if any(_dominates(b, *optimistic) for b in baselines):
        return "inside"
    return "within noise"


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows no other row dominates (higher accuracy and lower SSIM), by accuracy."""
    front = [r for r in rows if not any(o is not r and _dominates(o, r[UTILITY], r[PRIVACY])
                                        and (o[UTILITY], o[PRIVACY]) != (r[UTILITY], r[PRIVACY]) for o in rows)]
    return sorted(front, key=lambda r: r[UTILITY])


def judge(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per adaptive defense: its point, intervals, mean k and verdict against the baselines' frontier."""
    baselines = [r for r in table if r["defense"] in BASELINES]
    rows = []
    for r in table:
        if r["defense"] in BASELINES or r["defense"] == "random":
            continue
        rows.append({"defense": r["defense"], "mean_k": r["mean_k"],
                     **{key: r[key] for figure in (UTILITY, PRIVACY, "recon_id_accuracy")
                        for key in (figure, f"{figure}_ci_low", f"{figure}_ci_high")},
                     "verdict": verdict(r, baselines)})
    return rows


def _write(table: list[dict[str, Any]], verdicts: list[dict[str, Any]], out: Path, seeds: list[int],
           budget: str, episodes: int) -> None:
    with open(out / "frontier.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(verdicts[0]))
        writer.writeheader()
        writer.writerows(verdicts)

    def cell(row: dict[str, Any], figure: str) -> str:
        if row[f"{figure}_ci_low"] is None:
            return f"{row[figure]:.3f}"
        return f"{row[figure]:.3f} [{row[f'{figure}_ci_low']:.3f}, {row[f'{figure}_ci_high']:.3f}]"

    front = ", ".join(r["defense"] for r in pareto([r for r in table if r["defense"] in BASELINES]))
    lines = [f"# freqmix frontier: seeds {', '.join(map(str, seeds))}, budget `{budget}`", "",
             f"Baselines' frontier (fixed k, schedules; non-dominated): {front}. Each cell: mean [95% bootstrap "
             "interval]. Verdict: `beyond` = even the point's pessimistic corner (lowest accuracy, highest SSIM of "
             "its intervals) is dominated by no baseline; `inside` = a baseline dominates its optimistic corner; "
             f"`within noise` otherwise; `{ONE_SEED}`: no verdict, intervals need at least 2 seeds. `{DEPLOYED}`: "
             f"REINFORCE (constrained reward) learned over {episodes} whole runs on the auxiliary identities, acting "
             "without learning on the private ones.", "",
             "| defense | identification accuracy | strongest-attack SSIM | recon id accuracy | mean k | verdict |",
             "|---|---|---|---|---|---|"]
    for row in table:
        if row["defense"] in BASELINES or row["defense"] == "random":
            lines.append(f"| {row['defense']} | {cell(row, UTILITY)} | {cell(row, PRIVACY)} | "
                         f"{cell(row, 'recon_id_accuracy')} | {row['mean_k']:.2f} | "
                         f"{'baseline' if row['defense'] in BASELINES else 'reference'} |")
    for row in verdicts:
        lines.append(f"| {row['defense']} | {cell(row, UTILITY)} | {cell(row, PRIVACY)} | "
                     f"{cell(row, 'recon_id_accuracy')} | {row['mean_k']:.2f} | **{row['verdict']}** |")
    (out / "frontier.md").write_text("\n".join(lines) + "\n")


def plot(table: list[dict[str, Any]], path: Path) -> None:
    """Accuracy against strongest-attack SSIM with 95% intervals on both axes; the baselines' frontier as a
    staircase (the baselines dominate every point left of it and above it)."""
    fig = Figure(figsize=(7.5, 5))
    ax = fig.subplots()
    groups = (("fixed k", FIXED_DEFENSES, "o", "tab:blue"), ("schedules", SCHEDULE_DEFENSES, "s", "tab:green"),
              ("random", ("random",), "D", "tab:gray"),
              ("adaptive", (*ADAPTIVE_DEFENSES, DEPLOYED), "*", "tab:red"))
    for label, names, marker, color in groups:
        rows = [r for r in table if r["defense"] in names]
        if not rows:
            continue
        ax.errorbar([r[UTILITY] for r in rows], [r[PRIVACY] for r in rows],
                    xerr=error_bars(rows, UTILITY), yerr=error_bars(rows, PRIVACY),
                    fmt=marker, color=color, capsize=2, markersize=7 if marker == "*" else 5, label=label)
        for r in rows:
            ax.annotate(r["defense"], (r[UTILITY], r[PRIVACY]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front = pareto([r for r in table if r["defense"] in BASELINES])
    if front:
        # A staircase: at accuracy a the baselines reach the lowest SSIM of the frontier points at or right of a.
        xs, ys, left = [], [], 0.0
        for r in front:
            xs += [left, r[UTILITY]]
            ys += [r[PRIVACY], r[PRIVACY]]
            left = r[UTILITY]
        ax.plot(xs, ys, "--", color="tab:blue", alpha=0.6, label="baselines' frontier")
    ax.set_xlabel("identification accuracy (utility; higher is better)")
    ax.set_ylabel("strongest-attack SSIM (privacy; lower is better)")
    ax.set_xlim(left=max(0.0, min(r[UTILITY] - error_bars([r], UTILITY)[0][0] for r in table) - 0.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def run_frontier(base: TrainConfig, budget_name: str, seeds: int, episodes: int, out: Path, deployed: bool = True,
                 progress: bool = True, resume: bool = False, overwrite: bool = False) -> list[dict[str, Any]]:
    """Learn the deployed policies, run the comparison, judge every adaptive point; returns the verdict rows.

    :param resume: reuse the policies and the defense/seed runs an interrupted call finished (``compare --resume``).
    :param overwrite: replace the results of an earlier frontier in ``out`` (else a non-empty ``out`` is refused).
    """
    if seeds < 1 or episodes < 1:
        raise FreqmixError(f"--seeds and --episodes must be >= 1, not {seeds} and {episodes}")
    budget = get_budget(budget_name)
    check_defense_hyperparams(base, list(ADAPTIVE_DEFENSES))
    seed_list = [base.seed + i for i in range(seeds)]
    if not resume:
        claim_output_folder(out, overwrite, FRONTIER_FILES)
    out.mkdir(parents=True, exist_ok=True)
    if deployed:
        learn_deployed_policies(base, seed_list, episodes, out, progress, resume)
    # ``out`` is claimed: compare replaces what an earlier frontier left unless resuming.
    table = run_compare(base, frontier_defenses(deployed), budget, out, seeds=seeds, progress=progress,
                        device=base.recognizer.device, resume=resume, overwrite=not resume)
    verdicts = judge(table)
    _write(table, verdicts, out, seed_list, budget.name, episodes)
    plot(table, out / "frontier.png")
    (out / "frontier.json").write_text(json.dumps({"verdicts": verdicts, "episodes": episodes}, indent=2))
    return verdicts
