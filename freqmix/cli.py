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
import difflib
import importlib
import os
import re
import sys
import textwrap
import warnings
from typing import Any, NoReturn, Sequence

from freqmix.options import add_threads_option, given_options, set_threads
from freqmix_base.errors import FreqmixError

DESCRIPTION = ("freqmix: face recognition trained on block-DCT masked faces mixed k at a time (frequency MixUp), "
               "k chosen per batch by an RL agent; attacks that measure the privacy")
STATES_DEFAULT = re.compile(r"\(default\b|\bdefault:|\bdefault \d")  # a help that says its default itself
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# name -> (module with add_parser, the one-line help that module gives it; a test keeps the two equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("freqmix.train_command", "train a recognizer on hybrid-masked faces, recipes chosen by an agent"),
    "align": ("freqmix.align_command", "detect, landmark and warp faces to the ArcFace 112×112 template"),
    "ablate": ("freqmix.ablate_command", "compare agents × seeds with the same data, budget and seeds"),
    "bench": ("freqmix.bench_command", "speed figures (ratios timed side by side) into OUT/bench.json"),
    "evaluate": ("freqmix.evaluate_command",
                 "all attacks on one trained run -> DIR/privacy[_BUDGET].json/.png/.npz"),
    "compare": ("freqmix.compare_command",
                "train and attack every defense side by side -> compare.csv/md/json/png, compare_gallery.png"),
    "frontier": ("freqmix.frontier_command", "baselines vs adaptive agents on the privacy–utility plane, N seeds "
                                     "-> frontier.md/png"),
}


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already says what its default is, or there is
    nothing to show (None, an empty list, or an off switch); wraps lines between words only, so that a name is never
    cut in two."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        nothing = action.default is None or action.default is False or action.default == []
        if nothing or action.default is argparse.SUPPRESS or STATES_DEFAULT.search(action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_long_words=False, break_on_hyphens=False)


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


def refuse_unknown(parser: argparse.ArgumentParser, unknown: list[str]) -> NoReturn:
    """The usage error for arguments ``parser`` (one command's) does not take: the closest option it does take
    as a suggestion, and that command's own help."""
    flags = [arg for arg in unknown if arg.startswith("-")]
    if not flags:
        parser.error(f"unrecognized argument{'s' if len(unknown) > 1 else ''}: {' '.join(unknown)}")
    options = [option for action in parser._actions if action.help is not argparse.SUPPRESS
               for option in action.option_strings]  # never suggest what the command refuses
    close = difflib.get_close_matches(flags[0].split("=")[0], options, n=1, cutoff=0.6)
    suggestion = f" (did you mean {close[0]}?)" if close else ""
    parser.error(f"unrecognized option{'s' if len(flags) > 1 else ''} {' '.join(flags)}{suggestion}")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:  # noqa: ANN001
    return f"freqmix: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``freqmix`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    command = command if command in COMMANDS else None
    warnings.formatwarning = _one_line_warning
    try:
        args, unknown = build_parser(command).parse_known_args(argv)
        if unknown:
            refuse_unknown(command_parser(args.command), unknown)
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
