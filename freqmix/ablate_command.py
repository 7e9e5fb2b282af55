"""``freqmix ablate``: its options. Building the parser imports no torch: the ablation (:mod:`freqmix.ablate`)
loads when the command runs, so that a mistyped option fails at once."""
from __future__ import annotations

import argparse
from pathlib import Path

from agents.config import AgentConfig
from agents.registry import chooser_defaults
from freqmix.options import add_hp_option, add_overwrite_option, add_train_options, config_from_args
from freqmix_base.errors import FreqmixError
from freqmix_base.fields import default_of

DEFAULT_AGENTS = "reinforce,ppo,a2c,dqn,fixed,random"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``freqmix ablate`` on the ``freqmix`` subparsers."""
    p = sub.add_parser("ablate", help="compare agents × seeds with the same data, budget and seeds")
    add_train_options(p)
    p.add_argument("--agents", default=DEFAULT_AGENTS,
                   help=f"comma-separated agents; fixed:K is the fixed agent with k=K (default {DEFAULT_AGENTS})")
    p.add_argument("--seeds", type=int, default=3, help="seeds per agent: --seed, --seed+1, ...")
    p.add_argument("--k", type=int, default=chooser_defaults("fixed")["k"], help="k of a plain 'fixed' agent")
    p.add_argument("--env", default=default_of(AgentConfig, "env_id"), help="FreqMixUp-v0 | FreqMixUpRecipe-v0")
    add_hp_option(p, "override a hyperparameter of every learning agent (repeatable), as freqmix train --hp")
    p.add_argument("--out", default="runs/ablate", help="output folder")
    add_overwrite_option(p)
    p.set_defaults(func=_cmd_ablate)


def _cmd_ablate(args: argparse.Namespace) -> None:
    from agents.hyperparams import parse_overrides
    from freqmix.ablate import ablate, parse_agents

    if args.seeds < 1:
        raise FreqmixError(f"--seeds must be >= 1, not {args.seeds}")
    base = config_from_args(args, hyperparams=parse_overrides(args.hp))
    out = Path(args.out)
    choices = parse_agents(args.agents, args.k if "k" in args.given else None)
    ablate(base, choices, [base.seed + i for i in range(args.seeds)], out,
           progress=not args.no_progress, overwrite=args.overwrite)
    print((out / "ablation.md").read_text(), end="")
