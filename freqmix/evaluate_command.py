"""``freqmix evaluate``: its options. Building the parser imports no torch: the attacks (:mod:`freqmix.evaluate`)
load when the command runs, so that a mistyped option fails at once."""
from __future__ import annotations

import argparse
from pathlib import Path

from attacks.budget import BUDGETS, get_budget
from freqmix.options import add_attacker_faces_option, add_overwrite_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``freqmix evaluate``."""
    p = sub.add_parser("evaluate", help="all attacks on one trained run -> DIR/privacy[_BUDGET].json/.png/.npz",
                       description="Attack one trained run (trained with --private-fraction, so that the attacker "
                                   "owns identities of its own). There is no --out: the results are written beside "
                                   "the run they measure: DIR/privacy.json (every figure), DIR/privacy.png (the "
                                   "private faces and what each attack recovered, framed by the judge's verdict) and "
                                   "DIR/privacy.npz (those faces as arrays); privacy_BUDGET.json/.png/.npz for a "
                                   "--budget other than default. Results are reproducible for a given seed and "
                                   "thread count.")
    p.add_argument("--run", required=True, metavar="DIR",
                   help="output folder of freqmix train --private-fraction F (a run trained without it cannot be "
                        "evaluated: the attacker needs identities of its own); the results go here")
    p.add_argument("--budget", default="default", help=f"attack compute budget: {', '.join(BUDGETS)} (smoke: "
                                                        "minutes, to see everything run)")
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
    from freqmix.privacy_report import evaluate_report

    budget = get_budget(args.budget)
    results = evaluate_run(Path(args.run), budget, args.seed,
                           reference_accuracy=args.reference_accuracy, progress=not args.no_progress,
                           device=args.device, overwrite=args.overwrite, attacker_folder=args.attacker_faces)
    files = privacy_paths(Path(args.run), budget.name)
    print(evaluate_report(results, [(files.results, "every figure, per attack and per face"),
                                    (files.picture, "the private faces and what each attack recovered, framed by "
                                                    "the judge's verdict"),
                                    (files.faces, "the pictured faces and verdicts as arrays")]))
