"""The ``freqmix`` command. Every user error (a :class:`FreqmixError`) ends in one line ``freqmix: error: ...`` and
exit code 2; ``FREQMIX_DEBUG=1`` shows the full traceback instead. Any other exception is a bug and shows its
traceback."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from dataclasses import fields
from pathlib import Path
from typing import NoReturn, Sequence

from agents.hyperparams import parse_overrides
from agents.registry import AGENTS
from freqmix.errors import FreqmixError
from freqmix.train import TrainConfig, load_resume, run_training
from mixup_env import ENV_IDS
from mixup_env.frequency import SELECTIONS
from mixup_env.masking import WEIGHT_SCHEMES

EXIT_USER_ERROR = 2


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options shared by every command that trains (train, ablate, compare)."""
    d = TrainConfig()
    p.add_argument("--data", default=d.data, help="synthetic | PATH (one folder per identity) | olivetti | lfw")
    p.add_argument("--channels", default=d.channels, choices=SELECTIONS, help="frequency channels kept")
    p.add_argument("--n-high", type=int, default=d.n_high, help="channels per plane kept by --channels high")
    p.add_argument("--key", type=int, default=d.key, help="secret key of the channel shuffle (default: none)")
    p.add_argument("--upsample", type=int, default=d.upsample, help="×s upsampling before the DCT")
    p.add_argument("--image-size", type=int, default=d.image_size, help="square image side in pixels (×8)")
    p.add_argument("--weights", default=d.weights, choices=WEIGHT_SCHEMES, help="mixing weight scheme")
    p.add_argument("--alpha", type=float, default=d.alpha, help="Dirichlet concentration")
    p.add_argument("--sign-flip", action="store_true", help="random sign flip of mixed coefficients")
    p.add_argument("--drop", type=float, default=d.drop, help="fraction of channels zeroed per mixed output")
    p.add_argument("--laplace-epsilon", type=float, default=d.laplace_epsilon,
                   help="DCTDP: Laplace noise of budget ε on the mixed coefficients (default: none)")
    p.add_argument("--backbone", default=d.backbone, help="small | iresnet18 | iresnet50")
    p.add_argument("--head", default=d.head, help="arcface | cosface | softmax")
    p.add_argument("--embedding-dim", type=int, default=d.embedding_dim)
    p.add_argument("--lr", type=float, default=d.lr, help="recognizer SGD learning rate (cosine schedule)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--device", default=d.device, help="recognizer device (cpu, cuda); agents stay on the CPU")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=d.steps, help="recognizer steps")
    budget.add_argument("--epochs", type=float, default=d.epochs, help="epochs over the training split")
    p.add_argument("--probe-every", type=int, default=d.probe_every, help="clean-probe accuracy every N steps")
    p.add_argument("--utility-weight", type=float, default=d.utility_weight,
                   help="reward -= weight × max(0, floor - probe accuracy)")
    p.add_argument("--augment-shift", type=float, default=d.augment_shift,
                   help="random translation of training images, as a fraction of the side (0 = off)")
    p.add_argument("--accuracy-floor", type=float, default=d.accuracy_floor)
    p.add_argument("--train-per-identity", type=int, default=d.train_per_identity,
                   help="training images per identity (default: half)")
    p.add_argument("--drop-small-identities", action="store_true",
                   help="drop identities with fewer than 2 images instead of failing")
    p.add_argument("--pairs", default=d.pairs, help="LFW-format pairs file for verification")
    p.add_argument("--private-fraction", type=float, default=d.private_fraction,
                   help="train on this share of the identities only; the rest are the attacker's (freqmix evaluate)")
    p.add_argument("--seed", type=int, default=d.seed, help="the one seed of every generator")
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
                   help="override a hyperparameter of examples/hyperparams/<agent>.yml (repeatable), "
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
COMMAND_MODULES: tuple[str, ...] = ("freqmix.ablate", "freqmix.bench", "freqmix.evaluate", "freqmix.compare")


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
