"""``freqmix evaluate``: its options. Building the parser imports no torch: the attacks (:mod:`freqmix.evaluate`)
load when the command runs, so that a mistyped option fails at once."""
from __future__ import annotations

import argparse
from pathlib import Path

from attacks.budget import BUDGETS, get_budget
from freqmix.options import add_attacker_faces_option, add_overwrite_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``freqmix evaluate``."""
    p = sub.add_parser("evaluate", help="all attacks on one trained run -> DIR/privacy.json",
                       description="Attack one trained run. There is no --out: the results are written beside the "
                                   "run they measure, DIR/privacy.json and DIR/privacy.png (privacy_BUDGET.json/.png "
                                   "for a --budget other than default).")
    p.add_argument("--run", required=True, metavar="DIR",
                   help="output folder of freqmix train --private-fraction F; the results go here (no --out)")
    p.add_argument("--budget", default="default", help=f"attack compute budget: {', '.join(BUDGETS)}")
    p.add_argument("--seed", type=int, default=None, help="seed of the attacks (default: the run's seed)")
    p.add_argument("--reference-accuracy", type=float, default=None,
                   help="identification accuracy without defense, to report score_cls")
    add_overwrite_option(p, help="replace an earlier evaluation of the run under the same budget (without it one is "
                                 "refused)")
    p.add_argument("--device", default="cpu", help="where the attacks run: cpu, cuda, cuda:N")
    add_attacker_faces_option(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from freqmix.evaluate import evaluate_run, privacy_paths

    budget = get_budget(args.budget)
    results = evaluate_run(Path(args.run), budget, args.seed,
                           reference_accuracy=args.reference_accuracy, progress=not args.no_progress,
                           device=args.device, overwrite=args.overwrite, attacker_folder=args.attacker_faces)
    s, ci = results["summary"], results["intervals"]
    for figure in ("ssim", "psnr", "recon_id_accuracy", "mia_top1", "mia_top5", "knn_distance"):
        low, high = ci[figure]
        print(f"{figure:>18} {s[figure]:7.3f}  [{low:.3f}, {high:.3f}]  strongest: {s[figure + '_attack']}")
    exposure = "  ".join(f"E={e}: SSIM {v['ssim']:.3f} id {v['recon_id_accuracy']:.3f}"
                         for e, v in results["exposure"].items())
    print(f"{'exposure':>18} {exposure}")
    print(f"score_pp {results['scores']['score_pp']:.3f}  judge ({results['judge']['name']}) clean held-out "
          f"accuracy {results['judge']['heldout_accuracy']:.3f}, second opinion "
          f"{results['evaluator']['heldout_accuracy']:.3f}  {results['wall_seconds']:.1f} s  "
          f"-> {privacy_paths(Path(args.run), budget)[0]}")
