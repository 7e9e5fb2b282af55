"""The ``freqmix`` command. Every user error (a :class:`FreqmixError`) ends in one line ``freqmix: error: ...`` and
exit code 2; ``FREQMIX_DEBUG=1`` shows the full traceback instead. Any other exception is a bug and shows its
traceback.

Each subcommand's options live in a module of their own with ``add_parser(subparsers)``; only the module of the
command that runs is imported (the others appear in ``freqmix --help`` by the one-line help below), so that
``freqmix --help`` imports neither torch nor Stable-Baselines3; and an options module imports the machinery of its
command only when the command runs, so that a mistyped option fails before torch loads.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Any, NoReturn, Sequence

from freqmix.options import add_threads_option, given_options, set_threads
from freqmix_base.errors import FreqmixError

DESCRIPTION = ("freqmix: face recognition trained on block-DCT masked faces mixed k at a time (frequency MixUp), "
               "k chosen per batch by an RL agent; attacks that measure the privacy")
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# name -> (module with add_parser, the one-line help that module gives it; a test keeps the two equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("freqmix.train_command", "train a recognizer on hybrid-masked faces, recipes chosen by an agent"),
    "align": ("freqmix.align_command", "detect, landmark and warp faces to the ArcFace 112×112 template"),
    "ablate": ("freqmix.ablate_command", "compare agents × seeds with the same data, budget and seeds"),
    "bench": ("freqmix.bench_command", "speed figures (ratios timed side by side) into OUT/bench.json"),
    "evaluate": ("freqmix.evaluate_command", "all attacks on one trained run -> DIR/privacy.json"),
    "compare": ("freqmix.compare_command", "train and attack every defense side by side -> compare.csv/md/json/png"),
    "frontier": ("freqmix.frontier_command", "baselines vs adaptive agents on the privacy–utility plane, N seeds "
                                     "-> frontier.md/png"),
}


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already says what its default is, or there is
    nothing to show (None, or an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors (unknown choice, bad number, missing option) are one line
    ``freqmix: error: ...`` with exit code 2, like every other user error, whose help shows each option's
    default, and which takes no abbreviated option (``compare --k 4`` would otherwise set ``--key``); subcommand
    parsers inherit all three."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"freqmix: error: {message}; see {self.prog} --help\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``freqmix`` parser: every subcommand listed, and the full options of ``command`` alone (its module is
    the only one imported; None: of none, enough for ``freqmix --help``)."""
    parser = OneLineErrorParser(prog="freqmix", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, (_, summary) in COMMANDS.items():
        if name == command:
            _add_command(sub, name)
        else:
            sub.add_parser(name, help=summary)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` alone (its arguments after the name)."""
    return _add_command(OneLineErrorParser(prog="freqmix").add_subparsers(), name)


def _add_command(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    importlib.import_module(COMMANDS[name][0]).add_parser(sub)
    parser = sub.choices[name]
    if "--threads" not in parser._option_string_actions:  # bench has its own, with its own default
        add_threads_option(parser)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:  # noqa: ANN001
    return f"freqmix: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``freqmix`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    command = command if command in COMMANDS else None
    warnings.formatwarning = _one_line_warning
    try:
        args = build_parser(command).parse_args(argv)
        # What the user typed, apart from defaults: --config lets it win, and options a command would ignore fail.
        args.given = given_options(command_parser(args.command), argv[argv.index(args.command) + 1:])
        set_threads(args.threads)
        args.func(args)
    except FreqmixError as exc:
        if os.environ.get("FREQMIX_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"freqmix: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        print("freqmix: interrupted" + (f"; {exc}" if str(exc) else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
