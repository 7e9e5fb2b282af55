"""``freqmix bench``: its options. Building the parser imports no torch: the benchmarks (:mod:`freqmix.bench`) load
when the command runs, so that a mistyped option fails at once."""
from __future__ import annotations

import argparse
from pathlib import Path

from freqmix.benchmarks.timing import DEFAULT_ROUNDS
from freqmix.options import add_overwrite_option
from freqmix_base.errors import FreqmixError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``freqmix bench``."""
    p = subparsers.add_parser("bench", help="speed figures (ratios timed side by side) into OUT/bench.json")
    p.add_argument("--out", default="runs/bench", help="output folder")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="interleaved rounds per figure")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch")
    p.add_argument("--image-size", type=int, default=112, help="side of the synthetic faces (multiple of 8)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: figures of per-core work, steady on a shared machine; "
                        "0 = torch's default)")
    p.add_argument("--train-steps", type=int, default=None,
                   help="steps of the freqmix train run (default: its default budget)")
    p.add_argument("--no-train", action="store_true", help="skip the freqmix train run")
    add_overwrite_option(p)
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> None:
    if args.no_train and "train_steps" in args.given:
        raise FreqmixError("--train-steps sets the freqmix train run that --no-train skips; drop one of them")
    from freqmix.bench import format_table, run_bench

    result = run_bench(Path(args.out), rounds=args.rounds, batch_size=args.batch_size, image_size=args.image_size,
                       threads=args.threads, train_steps=args.train_steps, train=not args.no_train,
                       overwrite=args.overwrite)
    print(format_table(result))
    print(f"-> {Path(args.out) / 'bench.json'}")
