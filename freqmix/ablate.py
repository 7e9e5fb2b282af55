"""``freqmix ablate``: every agent × seed on the same data, budget, reward and seeds, summarised side by side.

The reward is the run's (``--reward``, by default ``constrained``: privacy while the clean-probe accuracy holds
``--accuracy-target``), so algorithms are compared on a problem without a dominant arm. ``--hp KEY=VALUE`` reaches
every learning agent. Files written to ``out``: ``AGENT/seedS/`` (each run's ``freqmix train`` folder), ``runs.csv``
(one row per run), ``ablation.csv`` and ``ablation.md`` (one row per agent: mean ± standard deviation over seeds
and a 95% bootstrap interval over seeds; then, per figure, the pairs of agents whose intervals do not overlap,
i.e. that differ beyond seed noise) and ``ablation.png`` (reward, k and clean-probe accuracy over training, one
line per agent, averaged over seeds). Its options: :mod:`freqmix.ablate_command`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from agents.build import resolve_hyperparams
from agents.config import AgentConfig
from agents.registry import learns
from freqmix.experiment.assembly import hyperparams_for
from freqmix.experiment.config import TrainConfig, env_action
from freqmix.experiment.launch import run_training
from freqmix.experiment.run_folder import claim_output_folder
from freqmix.options import note_unusual_k, refuse_streaming
from freqmix_base.intervals import bootstrap_interval

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from freqmix_base.errors import FreqmixError

ABLATION_FILES = ("runs.csv", "ablation.csv", "ablation.md", "ablation.png")
LATE_WINDOW = 50  # steps behind "late k": what the agent chose at the end, once it has learned
ONE_SEED_NOTE = ("One seed per agent: intervals over seeds need at least 2 seeds (--seeds 2 or more), so no "
                 "difference between agents is claimed.")
# (runs.csv column, ablation.md header, digits)
SUMMARY_COLUMNS = (
    ("identification_accuracy", "identification accuracy", 3),
    ("verification_accuracy", "verification accuracy", 3),
    ("mean_k", "mean k", 2),
    ("late_k", f"k, last {LATE_WINDOW} steps", 2),
    ("mean_reward", "mean reward", 3),
    ("wall_seconds", "wall time (s)", 1),
)


@dataclass(frozen=True)
class AgentChoice:
    """One entry of ``--agents``: a registered agent, and for ``fixed:K`` its k.

    :param label: the name in the tables (``"fixed:4"``).
    :param agent: the registered agent name.
    :param k: k of a fixed agent (None: the fixed agent's default).
    """

    label: str
    agent: str
    k: int | None = None


def parse_agents(text: str, k: int | None = None) -> list[AgentChoice]:
    """``"reinforce,fixed:4,random"`` -> agent choices, a plain ``fixed`` taking ``k`` (``--k``; None: its
    default); FreqmixError on an empty list, a bad ``fixed:K``, or a ``k`` that no plain ``fixed`` takes."""
    choices = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, number = item.partition(":")
        if sep and (name != "fixed" or not number.isdigit()):
            raise FreqmixError(f"bad agent {item!r} in --agents; only fixed takes a k, as fixed:K (e.g. fixed:4)")
        choices.append(AgentChoice(item, name, int(number) if sep else k if name == "fixed" else None))
    if not choices:
        raise FreqmixError("--agents is empty; give a comma-separated list, e.g. reinforce,ppo,fixed,random")
    if k is not None and not any(choice.label == "fixed" for choice in choices):
        raise FreqmixError(f"--k sets the k of a plain fixed agent, and --agents {text} has none; drop --k (or add "
                           "fixed, or use fixed:K)")
    return choices


def _read_steps(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(row[key]) for row in rows]) for key in ("step", "k", "reward", "accuracy")}


def run_ablation(base: TrainConfig, choices: list[AgentChoice], seeds: list[int], out: Path,
                 progress: bool = True, overwrite: bool = False) -> list[dict[str, Any]]:
    """Train every agent with every seed (same data and budget) into ``out/AGENT/seedS``; one row per run.

    :param base: the shared configuration (its agent and seed are replaced per run); its ``hyperparams`` go to
        every learning agent (the choosers take none; a fixed agent takes its choice's k).
    :param choices: the agents to compare.
    :param seeds: the seeds every agent runs with.
    :param overwrite: replace the results of an earlier ablation in ``out`` and its run folders (else a non-empty
        ``out`` is refused).
    """
    env_action(base.agent.env_id)
    refuse_streaming(base)
    if base.agent.hyperparams and not any(learns(choice.agent) for choice in choices):
        raise FreqmixError("--hp reaches the learning agents, and --agents has none; drop --hp")
    for choice in choices:  # unknown names and hyperparameters fail before hours of training, not after
        resolve_hyperparams(choice.agent, base.agent.env_id, _hyperparams(base, choice))
        if choice.agent == "fixed":
            note_unusual_k(AgentConfig("fixed", _hyperparams(base, choice)).fixed_k(), base.recipe.linear)
    claim_output_folder(out, overwrite, ABLATION_FILES)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for choice in choices:
        for seed in seeds:
            config = replace(base, seed=seed).with_options(agent=choice.agent,
                                                           hyperparams=_hyperparams(base, choice))
            folder = out / choice.label.replace(":", "_k") / f"seed{seed}"
            metrics = run_training(config, folder, progress=progress, overwrite=overwrite)
            steps = _read_steps(folder / "steps.csv")
            runs.append({"agent": choice.label, "seed": seed,
                         **{key: metrics[key] for key in ("identification_accuracy", "verification_accuracy",
                                                          "mean_k", "wall_seconds")},
                         # A run no longer than the window has no "late" part apart from its mean.
                         **({"late_k": float(steps["k"][-LATE_WINDOW:].mean())}
                            if len(steps["k"]) > LATE_WINDOW else {}),
                         "mean_reward": float(steps["reward"].mean()), "folder": str(folder)})
            late = f"late k {runs[-1]['late_k']:.2f}  " if "late_k" in runs[-1] else ""
            print(f"{choice.label:>10} seed {seed}: identification {metrics['identification_accuracy']:.3f}  "
                  f"mean k {metrics['mean_k']:.2f}  {late}"
                  f"mean reward {runs[-1]['mean_reward']:.3f}  {metrics['wall_seconds']:.0f} s", flush=True)
    return runs


def _hyperparams(base: TrainConfig, choice: AgentChoice) -> dict[str, Any]:
    """What agent ``choice`` gets: ``--hp`` if it learns, its k if it is a fixed agent given one, else nothing."""
    own = {"k": choice.k} if choice.k is not None else {}
    return {**hyperparams_for(base, choice.agent), **own}


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per agent (in first-seen order): ``<column>_mean``, ``<column>_std`` (ddof=1) and
    ``<column>_ci_low`` / ``_ci_high``, the 95% bootstrap interval of the mean over seeds; std and interval are NaN
    for one seed (seed noise cannot be measured from one seed). Columns the runs lack (``late_k`` of runs no
    longer than its window) are left out."""
    rows = []
    for agent in dict.fromkeys(run["agent"] for run in runs):
        mine = [run for run in runs if run["agent"] == agent]
        row: dict[str, Any] = {"agent": agent, "seeds": len(mine)}
        for key, _, _ in SUMMARY_COLUMNS:
            if key not in mine[0]:
                continue
            values = np.array([run[key] for run in mine], dtype=np.float64)
            row[f"{key}_mean"] = float(values.mean())
            if len(values) < 2:
                row[f"{key}_std"] = row[f"{key}_ci_low"] = row[f"{key}_ci_high"] = float("nan")
                continue
            row[f"{key}_std"] = float(values.std(ddof=1))
            _, row[f"{key}_ci_low"], row[f"{key}_ci_high"] = bootstrap_interval([[v] for v in values])
        rows.append(row)
    return rows


def beyond_noise(summary: list[dict[str, Any]], key: str) -> list[tuple[str, str]]:
    """Pairs of agents (higher first) whose intervals of ``key`` do not overlap: they differ beyond seed noise."""
    pairs = []
    for i, a in enumerate(summary):
        for b in summary[i + 1:]:
            high, low = (a, b) if a[f"{key}_mean"] >= b[f"{key}_mean"] else (b, a)
            if low[f"{key}_ci_high"] < high[f"{key}_ci_low"]:
                pairs.append((high["agent"], low["agent"]))
    return pairs


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_markdown(path: Path, summary: list[dict[str, Any]], base: TrainConfig, steps: int) -> None:
    """The per-agent table as Markdown, with the shared settings above it; with one seed per agent, the values
    alone and a line that says no difference is claimed."""
    columns = [column for column in SUMMARY_COLUMNS if f"{column[0]}_mean" in summary[0]]
    header = ["agent"] + [title for _, title, _ in columns]
    reward = (f"reward `{base.objective.reward}`" + (f" (accuracy target {base.objective.accuracy_target:g})"
                                           if base.objective.reward == "constrained" else ""))
    seeds = summary[0]["seeds"]
    shown = ("mean ± std over seeds [95% bootstrap interval over seeds]" if seeds > 1
             else "the one seed's values")
    lines = [f"Ablation on `{base.task.data}`, env {base.agent.env_id}, {reward}, {steps} recognizer steps per run, "
             f"seeds {seeds} per agent; {shown}.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary:
        cells = [row["agent"]] + [(f"{row[f'{key}_mean']:.{digits}f} ± {row[f'{key}_std']:.{digits}f} "
                                   f"[{row[f'{key}_ci_low']:.{digits}f}, {row[f'{key}_ci_high']:.{digits}f}]")
                                  if seeds > 1 else f"{row[f'{key}_mean']:.{digits}f}" for key, _, digits in columns]
        lines.append("| " + " | ".join(cells) + " |")
    if seeds < 2:
        lines += ["", ONE_SEED_NOTE]
        path.write_text("\n".join(lines) + "\n")
        return
    lines += ["", "Where agents differ beyond seed noise (intervals that do not overlap; higher first):", "",
              "| figure | pairs |", "|---|---|"]
    for key, title, _ in columns:
        if key == "wall_seconds":
            continue
        pairs = beyond_noise(summary, key)
        lines.append(f"| {title} | {', '.join(f'{a} > {b}' for a, b in pairs) or 'none'} |")
    path.write_text("\n".join(lines) + "\n")


def plot(path: Path, runs: list[dict[str, Any]], accuracy_target: float | None = None) -> None:
    """Reward, k and clean-probe accuracy over training, one line per agent: a moving average per run, then the
    mean over seeds; the accuracy target as a dashed line when given."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4), layout="constrained")
    for agent in dict.fromkeys(run["agent"] for run in runs):
        curves = [_read_steps(Path(run["folder"]) / "steps.csv") for run in runs if run["agent"] == agent]
        length = min(len(c["step"]) for c in curves)
        window = max(1, length // 20)
        kernel = np.ones(window) / window
        for ax, key in zip(axes, ("reward", "k", "accuracy")):
            smooth = np.mean([np.convolve(c[key][:length], kernel, mode="valid") for c in curves], axis=0)
            ax.plot(curves[0]["step"][window - 1:length], smooth, label=agent)
    if accuracy_target is not None:
        axes[2].axhline(accuracy_target, color="black", linestyle="--", linewidth=1, label="accuracy target")
    for ax, title in zip(axes, ("reward", "k (images mixed)", "clean-probe accuracy")):
        ax.set_xlabel("recognizer step")
        ax.set_title(title)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")  # clear of the curves
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ablate(base: TrainConfig, choices: list[AgentChoice], seeds: list[int], out: Path, progress: bool = True,
           overwrite: bool = False) -> None:
    """:func:`run_ablation`, then every table and the figure into ``out`` (``freqmix ablate``)."""
    runs = run_ablation(base, choices, seeds, out, progress=progress, overwrite=overwrite)
    summary = summarize(runs)
    _write_csv(out / "runs.csv", runs)
    _write_csv(out / "ablation.csv", summary)
    steps = int(_read_steps(Path(runs[0]["folder"]) / "steps.csv")["step"].size)
    write_markdown(out / "ablation.md", summary, base, steps)
    objective = base.objective
    plot(out / "ablation.png", runs, objective.accuracy_target if objective.reward == "constrained" else None)
