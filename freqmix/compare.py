"""``freqmix compare``: train every defense with the same data, budget and seed, attack each, and write the table
(``compare.csv``, ``compare.md``, ``compare.json``), the privacy–utility picture (``compare.png``) and the resolved
configuration (``config.json``) to ``--out``; each defense's own run folder (with ``privacy.json``) lies beneath.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from tqdm import tqdm

from attacks.budget import BUDGETS, AttackBudget, get_budget
from attacks.defenses import DEFENSES, defense_overrides, parse_defenses
from attacks.privacy import prepare_kit
from freqmix.cli import add_train_options, config_from_args
from freqmix.evaluate import evaluate_run, load_attack_data, set_threads
from freqmix.train import TrainConfig, run_training

COLUMNS = ("defense", "identification_accuracy", "verification_accuracy", "psnr", "ssim", "recon_id_accuracy",
           "mia_top1", "mia_top5", "knn_distance", "score_pp", "score_cls", "wall_seconds")
# Beyond the required columns: the black-box attacker's reading and what k the defense actually used.
EXTRA_COLUMNS = ("ssim_blackbox", "recon_id_accuracy_blackbox", "mean_k")
REFERENCE = "none"
DEFAULT_PRIVATE_FRACTION = 0.5


def run_compare(base: TrainConfig, defenses: list[str], budget: AttackBudget, out: Path,
                progress: bool = True) -> list[dict[str, Any]]:
    """Train and attack each defense; write every output file to ``out``; return the table rows.

    :param base: the shared training configuration (data, recognizer, seed, private_fraction); each defense
        replaces its protection fields, and ``budget.recognizer_epochs`` applies unless ``base.steps`` is set.
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    overrides = {name: defense_overrides(name, base.seed) for name in defenses}
    (out / "config.json").write_text(json.dumps(
        {"defenses": defenses, "budget": asdict(budget), "base": asdict(base), "defense_overrides": overrides},
        indent=2))
    data = load_attack_data(base)
    kit = prepare_kit(data.private_train, data.private_test, data.auxiliary, budget, base.seed, progress)

    # The reference goes first so that every later privacy.json can carry score_cls.
    order = sorted(defenses, key=lambda name: name != REFERENCE)
    rows: dict[str, dict[str, Any]] = {}
    reference = None
    for name in tqdm(order, desc="defenses", unit="defense", disable=not progress):
        began = time.perf_counter()
        config = replace(base, **overrides[name])
        metrics = run_training(config, out / name, progress=progress)
        results = evaluate_run(out / name, budget, base.seed, kit=kit, reference_accuracy=reference,
                               progress=progress)
        if name == REFERENCE:
            reference = metrics["identification_accuracy"]
        rows[name] = _row(name, metrics, results, time.perf_counter() - began)
    for row in rows.values():
        row["score_cls"] = row["identification_accuracy"] / reference if reference else None
    table = [rows[name] for name in defenses]
    _write_tables(table, out, base, budget, kit.evaluator_accuracy, time.perf_counter() - started,
                  kit.private.num_identities)
    _plot(table, out / "compare.png")
    return table


def _row(name: str, metrics: dict[str, Any], results: dict[str, Any], seconds: float) -> dict[str, Any]:
    s = results["summary"]
    black = results["reconstruction"]["black_box"]
    return {"defense": name, "identification_accuracy": metrics["identification_accuracy"],
            "verification_accuracy": metrics["verification_accuracy"], "psnr": s["psnr"], "ssim": s["ssim"],
            "recon_id_accuracy": s["recon_id_accuracy"], "mia_top1": s["mia_top1"], "mia_top5": s["mia_top5"],
            "knn_distance": s["knn_distance"], "score_pp": results["scores"]["score_pp"], "score_cls": None,
            "wall_seconds": seconds, "ssim_blackbox": black["ssim_best"],
            "recon_id_accuracy_blackbox": black["id_accuracy_best"], "mean_k": metrics["mean_k"]}


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def _write_tables(table: list[dict[str, Any]], out: Path, base: TrainConfig, budget: AttackBudget,
                  evaluator_accuracy: float, seconds: float, num_identities: int) -> None:
    columns = COLUMNS + EXTRA_COLUMNS
    with open(out / "compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)
    (out / "compare.json").write_text(json.dumps(
        {"rows": table, "wall_seconds": seconds, "evaluator_heldout_accuracy": evaluator_accuracy,
         "private_identities": num_identities}, indent=2))
    lines = [f"# freqmix compare: {base.data}", "",
             f"budget `{budget.name}`, seed {base.seed}, {num_identities} private identities "
             f"(chance: identity {1 / num_identities:.3f}, top-5 {min(5, num_identities) / num_identities:.3f}), "
             f"evaluator held-out accuracy {evaluator_accuracy:.3f}, total {seconds / 60:.1f} min.", "",
             "Attack columns: white-box CGAN against the best-matching mixed component (psnr, ssim, recon_id); "
             "the stronger model-inversion prior (mia, knn). score_pp: higher = more private; score_cls: accuracy "
             "relative to `none`. See docs/privacy_metrics.md.", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in columns) + " |" for row in table]
    (out / "compare.md").write_text("\n".join(lines) + "\n")


def _plot(table: list[dict[str, Any]], path: Path) -> None:
    """Two panels against identification accuracy: score_pp and white-box SSIM; the fixed-k curve as a line."""
    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    fixed = sorted((row for row in table if row["defense"].startswith("fixed")), key=lambda r: r["defense"])
    for ax, key, label in ((axes[0], "score_pp", "score_pp (higher = more private)"),
                           (axes[1], "ssim", "white-box CGAN SSIM (lower = more private)")):
        if fixed:
            ax.plot([r["identification_accuracy"] for r in fixed], [r[key] for r in fixed], "o-", color="tab:blue",
                    label="fixed k")
            for r in fixed:
                ax.annotate(f"k={r['defense'][5:]}", (r["identification_accuracy"], r[key]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        for r in table:
            if r["defense"].startswith("fixed") or r[key] is None or math.isnan(r[key]):
                continue
            adaptive = r["defense"] == "adaptive"
            ax.plot(r["identification_accuracy"], r[key], "*" if adaptive else "s", markersize=12 if adaptive else 6,
                    color="tab:red" if adaptive else "tab:gray")
            ax.annotate(r["defense"], (r["identification_accuracy"], r[key]), fontsize=8, xytext=(4, -9),
                        textcoords="offset points")
        ax.set_xlabel("identification accuracy (utility)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if fixed:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``freqmix compare``."""
    p = sub.add_parser("compare", help="train and attack every defense side by side -> compare.csv/md/json/png")
    add_train_options(p)
    p.add_argument("--defenses", default=",".join(DEFENSES), help=f"comma-separated, from {', '.join(DEFENSES)}")
    p.add_argument("--budget", default="default", choices=list(BUDGETS), help="training and attack budget")
    p.add_argument("--out", default="runs/compare", help="output folder")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    # The budget decides the epochs unless --epochs/--steps is given; the attacker needs identities of its own.
    p.set_defaults(func=_cmd_compare, epochs=None, private_fraction=DEFAULT_PRIVATE_FRACTION)


def _cmd_compare(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    defenses = parse_defenses(args.defenses)
    budget = get_budget(args.budget)
    epochs = args.epochs if args.epochs is not None else budget.recognizer_epochs
    base = config_from_args(args, epochs=epochs)
    table = run_compare(base, defenses, budget, Path(args.out), progress=not args.no_progress)
    for row in table:
        print(f"{row['defense']:>10}  accuracy {row['identification_accuracy']:.3f}  SSIM {row['ssim']:.3f}  "
              f"MIA top-5 {row['mia_top5']:.3f}  score_pp {row['score_pp']:.3f}")
    print(f"-> {Path(args.out) / 'compare.md'}")
