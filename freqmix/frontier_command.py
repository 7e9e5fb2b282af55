"""``freqmix frontier``: its options. Building the parser imports no torch: the experiment
(:mod:`freqmix.frontier`) loads when the command runs, so that a mistyped option fails at once."""
from __future__ import annotations

import argparse
from pathlib import Path

from attacks.budget import BUDGETS, get_budget
from freqmix.compare_command import DEFAULT_PRIVATE_FRACTION, hide_refused_options, refuse_ignored_options
from freqmix.options import (
    add_hp_option, add_overwrite_option, add_train_options, config_from_args, refuse_unused_options,
)
from freqmix_base.errors import FreqmixError

DEFAULT_EPISODES = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``freqmix frontier``."""
    p = sub.add_parser("frontier", help="baselines vs adaptive agents on the privacy–utility plane, N seeds "
                                        "-> frontier.md/png")
    add_train_options(p)
    hide_refused_options(p)
    p.add_argument("--budget", default="frontier", help=f"training and attack budget: {', '.join(BUDGETS)}")
    p.add_argument("--seeds", type=int, default=3, help="seeds per defense (--seed, --seed + 1, ...)")
    p.add_argument("--learn-episodes", type=int, default=DEFAULT_EPISODES,
                   help="whole runs the deployed policy learns over (on the auxiliary identities)")
    p.add_argument("--no-deployed", action="store_true", help="skip the policy learned on other faces")
    add_hp_option(p, "override a hyperparameter of every learning agent, the deployed policy's included "
                     "(repeatable), as freqmix train --hp")
    p.add_argument("--out", default="runs/frontier", help="output folder")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue an interrupted frontier in --out")
    add_overwrite_option(again)
    p.set_defaults(func=_cmd_frontier, epochs=None, private_fraction=DEFAULT_PRIVATE_FRACTION)


def _cmd_frontier(args: argparse.Namespace) -> None:
    refuse_ignored_options(args.given)
    if args.no_deployed and "learn_episodes" in args.given:
        raise FreqmixError("--learn-episodes sets how long the deployed policy learns, which --no-deployed skips; "
                           "drop one of them")
    budget = get_budget(args.budget)
    from agents.hyperparams import parse_overrides  # the experiment's machinery, once the options are sound
    from freqmix.frontier import PRIVACY, UTILITY, run_frontier

    base = config_from_args(args, epochs=args.epochs if args.epochs is not None else budget.recognizer_epochs,
                            hyperparams=parse_overrides(args.hp))
    refuse_unused_options(base, args.given)
    verdicts = run_frontier(base, args.budget, args.seeds, args.learn_episodes, Path(args.out),
                            deployed=not args.no_deployed, progress=not args.no_progress, resume=args.resume,
                            overwrite=args.overwrite)
    for row in verdicts:
        print(f"{row['defense']:>22}  accuracy {row[UTILITY]:.3f}  SSIM {row[PRIVACY]:.3f}  mean k "
              f"{row['mean_k']:.2f}  {row['verdict']}")
    print(f"-> {Path(args.out) / 'frontier.md'}")
