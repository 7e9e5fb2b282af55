"""``freqmix compare``: its options, and the refusal of the options every defense sets itself. Building the parser
imports no torch: the comparison (:mod:`freqmix.compare`) loads when the command runs, so that a mistyped option
fails at once."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from attacks.budget import BUDGETS, get_budget
from freqmix.experiment.defenses import DEFENSES, PROTECTION_OPTIONS, parse_defenses
from freqmix.options import (
    add_attacker_faces_option, add_hp_option, add_overwrite_option, add_train_options, config_from_args, flag,
    refuse_unused_options,
)
from freqmix_base.errors import FreqmixError

DEFAULT_PRIVATE_FRACTION = 0.5  # the attacker needs identities of its own
# What --gather reads (it trains and attacks nothing): every other option would be ignored.
GATHER_OPTIONS = frozenset({"gather", "out", "overwrite", "defenses", "threads"})


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``freqmix compare``."""
    p = sub.add_parser("compare", help="train and attack every defense side by side -> compare.csv/md/json/png, "
                                       "compare_gallery.png",
                       description="Train every defense on the same private identities, attack each, and write "
                                   "OUT/compare.md (the table), compare.csv and compare.json (every figure with its "
                                   "interval), compare.png (privacy against utility) and compare_gallery.png (the "
                                   "same private faces under every defense, each as its strongest attack recovers "
                                   "it); each defense's run and its privacy files lie in OUT/DEFENSE. Results are "
                                   "reproducible for a given seed and thread count.")
    add_train_options(p)
    hide_refused_options(p)
    p.add_argument("--defenses", default=",".join(DEFENSES),
                   help=f"comma-separated, from {', '.join(DEFENSES)} (default: all of them)")
    p.add_argument("--budget", default="default", help=f"training and attack budget: {', '.join(BUDGETS)}")
    p.add_argument("--seeds", type=int, default=1, help="train and attack each defense under this many seeds "
                                                        "(--seed, --seed + 1, ...) for the intervals")
    add_hp_option(p, "override a hyperparameter of every learning defense's agent (repeatable), as freqmix "
                     "train --hp")
    add_attacker_faces_option(p)
    p.add_argument("--out", default="runs/compare", help="output folder")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue a comparison in --out: reuse its finished defense/seed runs")
    add_overwrite_option(again)
    p.add_argument("--gather", nargs="+", metavar="DIR",
                   help="train nothing: aggregate the defense/seed runs finished under these folders (e.g. one compare "
                        "process per defense and seed) into --out's tables")
    # The budget decides the epochs unless --epochs/--steps is given; the attacker needs identities of its own.
    p.set_defaults(func=_cmd_compare, epochs=None, private_fraction=DEFAULT_PRIVATE_FRACTION)


# The agent's options a defense sets (``Defense.k_min``; its env and agent are no flags of compare's).
DEFENSE_AGENT_OPTIONS = ("k_min",)

def hide_refused_options(p: argparse.ArgumentParser) -> None:
    """Keep the options compare refuses (each defense's protection and agent's k choices, --stream and its
    --data-workers) out of ``--help``; they stay parseable, so that typing one gets the refusal that says why."""
    for action in p._actions:
        if action.dest in (*PROTECTION_OPTIONS, *DEFENSE_AGENT_OPTIONS, "stream", "data_workers"):
            action.help = argparse.SUPPRESS


def refuse_ignored_options(given: set[str]) -> None:
    """FreqmixError for options in ``given`` (the options typed) that a comparison would ignore: the protection
    options, the reward and the agent's k choices (every defense sets its own)."""
    # Options that every defense sets itself: given, they would be silently replaced.
    conflicting = [flag(dest) for dest in (*PROTECTION_OPTIONS, "reward", *DEFENSE_AGENT_OPTIONS) if dest in given]
    if conflicting:
        raise FreqmixError(f"each defense sets its own protection, reward and agent, so it would ignore "
                           f"{', '.join(conflicting)}; drop them (choose protections with --defenses, see "
                           "freqmix/experiment/defenses.py)")


def _cmd_compare(args: argparse.Namespace) -> None:
    refuse_ignored_options(args.given)
    defenses = parse_defenses(args.defenses)
    if args.gather:
        trained = sorted(args.given - GATHER_OPTIONS)
        if trained:
            raise FreqmixError(f"--gather trains and attacks nothing, so it would ignore "
                               f"{', '.join(flag(dest) for dest in trained)}; drop them")
        from freqmix.gather import gather_compare

        table, seeds = gather_compare([Path(folder) for folder in args.gather], Path(args.out),
                                      overwrite=args.overwrite, defenses=defenses if "defenses" in args.given else None)
        _print_table(table, len(seeds), Path(args.out))
        return
    budget = get_budget(args.budget)
    from agents.hyperparams import parse_overrides  # the comparison's machinery, once the options are sound
    from freqmix.compare import run_compare

    epochs = args.epochs if args.epochs is not None else budget.recognizer_epochs
    base = config_from_args(args, epochs=epochs, hyperparams=parse_overrides(args.hp))
    refuse_unused_options(base, args.given)
    table = run_compare(base, defenses, budget, Path(args.out), seeds=args.seeds, progress=not args.no_progress,
                        device=base.recognizer.device, resume=args.resume, overwrite=args.overwrite,
                        attacker_folder=args.attacker_faces)
    _print_table(table, args.seeds, Path(args.out))


def _print_table(table: list[dict[str, Any]], seeds: int, out: Path) -> None:
    from freqmix.compare import CHANCE_FIGURES, ONE_SEED_NOTE
    from freqmix.gallery import GALLERY
    from freqmix.privacy_report import compare_report

    chance = {figure: next((row[f"{figure}_chance"] for row in table if row.get(f"{figure}_chance") is not None),
                           None) for figure in CHANCE_FIGURES}
    print("\n".join(compare_report(table, chance)))
    if seeds < 2:
        print(ONE_SEED_NOTE)
    gallery = (f", {GALLERY} (the same private faces under every defense, framed by the judge's verdict)"
               if (out / GALLERY).is_file() else "")
    print(f"wrote {out}: compare.md (the table), compare.csv and compare.json (every figure, interval and strongest "
          f"attack), compare.png (privacy against utility){gallery}")
