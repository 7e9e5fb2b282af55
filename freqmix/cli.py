"""The ``freqmix`` command. Every user error (a :class:`FreqmixError`) ends in one line ``freqmix: error: ...`` and
exit code 2; ``FREQMIX_DEBUG=1`` shows the full traceback instead. Any other exception is a bug and shows its
traceback."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import typing
import warnings
from dataclasses import fields
from pathlib import Path
from typing import NoReturn, Sequence

from agents.hyperparams import parse_overrides
from agents.registry import AGENTS
from freqmix.errors import FreqmixError
from freqmix.train import TrainConfig, load_resume, run_training
from mixup_env import ENV_IDS

EXIT_USER_ERROR = 2


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options shared by every command that trains (train, ablate, compare): one ``--name`` per
    :class:`TrainConfig` field that carries help text, typed by its annotation (a bool is a switch)."""
    hints = typing.get_type_hints(TrainConfig)
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for f in fields(TrainConfig):
        if "help" not in f.metadata:
            continue
        options = {key: value for key, value in f.metadata.items() if key != "group"}
        target: argparse._ActionsContainer = p
        if "group" in f.metadata:
            if f.metadata["group"] not in groups:
                groups[f.metadata["group"]] = p.add_mutually_exclusive_group()
            target = groups[f.metadata["group"]]
        flag = "--" + f.name.replace("_", "-")
        kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
        if kind is bool:
            target.add_argument(flag, action="store_true", **options)
        else:
            target.add_argument(flag, type=kind, default=f.default, **options)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def config_from_args(args: argparse.Namespace, **overrides: object) -> TrainConfig:
    """A :class:`TrainConfig` from parsed options (fields the parser lacks keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    return TrainConfig(**{**values, **overrides})


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a recognizer on hybrid-masked faces, recipes chosen by an agent")
    add_train_options(p)
    p.add_argument("--agent", default="fixed", help=" | ".join(AGENTS) + " (sac, td3: through the Box relaxation)")
    p.add_argument("--k", type=int, default=TrainConfig.k, help="k of the fixed agent (1 = no mixing)")
    p.add_argument("--env", default=TrainConfig.env,
                   help=" | ".join(ENV_IDS) + " (action: k alone, or the whole recipe)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter of agents/hyperparams_yaml/<agent>.yml (repeatable), "
                        "e.g. --hp learning_rate=3e-4 --hp n_steps=16")
    p.add_argument("--out", default="runs/train", help="output folder")
    p.add_argument("--save-every", type=int, default=None, metavar="N",
                   help="write DIR/checkpoint.pt every N recognizer steps (atomically)")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="write a checkpoint at STEP and stop (continue later with --resume)")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run in DIR from its checkpoint (its config; --steps may extend the budget)")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> None:
    checkpoint = None
    if args.resume:
        out = Path(args.resume)
        config, checkpoint = load_resume(out, args.steps)
    else:
        out = Path(args.out)
        config = config_from_args(args, hyperparams=parse_overrides(args.hp))
    metrics = run_training(config, out, progress=not args.no_progress, save_every=args.save_every,
                           stop_at=args.stop_at, checkpoint=checkpoint)
    if metrics is None:
        print(f"stopped at step {args.stop_at} with a checkpoint; continue with: freqmix train --resume {out}")
        return
    print(f"identification accuracy {metrics['identification_accuracy']:.4f}  "
          f"verification accuracy {metrics['verification_accuracy']:.4f}  mean k {metrics['mean_k']:.2f}  "
          f"final loss {metrics['final_loss']:.3f}  {metrics['wall_seconds']:.1f} s  -> {out}")


# Other subcommands live in their own modules, each with ``add_parser(subparsers)`` that sets ``func``.
COMMAND_MODULES: tuple[str, ...] = ("freqmix.align", "freqmix.ablate", "freqmix.bench", "freqmix.evaluate", "freqmix.compare",
                                     "freqmix.frontier")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors (unknown choice, bad number, missing option) are one line
    ``freqmix: error: ...`` with exit code 2, like every other user error; subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"freqmix: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``freqmix`` parser with every subcommand."""
    parser = OneLineErrorParser(prog="freqmix", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:  # noqa: ANN001
    return f"freqmix: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``freqmix`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        args.func(args)
    except FreqmixError as exc:
        if os.environ.get("FREQMIX_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"freqmix: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("freqmix: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
