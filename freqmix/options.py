"""Command-line options shared by the ``freqmix`` subcommands, and what the user typed as opposed to a default.

Kept apart from ``freqmix.cli`` (the dispatcher) so that subcommand modules import their options from here and
``cli`` imports the subcommands only when one runs: no import loop, and ``freqmix --help`` imports no torch.
"""
from __future__ import annotations

import argparse
import typing
import warnings
from typing import TYPE_CHECKING

from freqmix_base.errors import FreqmixError
from freqmix_base.fields import UnusedOptionError, refuse_unused

if TYPE_CHECKING:
    from freqmix.experiment.config import TrainConfig


TRAINING_OPTIONS = "training options (shared by train, ablate, compare and frontier)"


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options shared by every command that trains (train, ablate, compare): one ``--name`` per flat field of
    :class:`TrainConfig` that carries help text, typed by its annotation (a bool is a switch), its default the
    default configuration's value. They form a group of their own, shown after the command's own options."""
    from freqmix.experiment.config import TrainConfig, flat_fields

    defaults = TrainConfig().flat()
    training = p.add_argument_group(TRAINING_OPTIONS)
    p.usage = "%(prog)s [options] [training options]"  # all of them listed below, the command's own first
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for name, (_, f, hint) in flat_fields().items():
        if "help" not in f.metadata:
            continue
        options = {key: value for key, value in f.metadata.items() if key not in ("group", "flat", "needs")}
        target: argparse._ActionsContainer = training
        if "group" in f.metadata:
            if f.metadata["group"] not in groups:
                groups[f.metadata["group"]] = training.add_mutually_exclusive_group()
            target = groups[f.metadata["group"]]
        kind = next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))
        if kind is bool:
            target.add_argument(flag(name), action="store_true", **options)
        else:  # a field may set its own type
            target.add_argument(flag(name), **{"type": kind, "default": defaults[name], **options})
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_hp_option(p: argparse.ArgumentParser, help: str) -> None:
    """``--hp KEY=VALUE`` (repeatable): hyperparameter overrides; read them with
    ``agents.hyperparams.parse_overrides(args.hp)``."""
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_overwrite_option(p: argparse._ActionsContainer,
                         help: str = "replace the results of an earlier run in --out (without it a non-empty --out "
                                     "is refused)") -> None:
    """``--overwrite``: replace the freqmix files of an earlier result (other files there are kept)."""
    p.add_argument("--overwrite", action="store_true", help=help)


def add_attacker_faces_option(p: argparse.ArgumentParser) -> None:
    """``--attacker-faces DIR``: more public faces for the decoder attacks."""
    # Not the LFW subset by default: on ORL its unaligned faces lowered the decoder's SSIM at short budgets
    # (ppfr k = 1, 150 steps: 0.494 -> 0.419).
    p.add_argument("--attacker-faces", default=None, metavar="DIR",
                   help="an identity folder (DIR/<identity>/<image>) of more public faces the decoder attacks train "
                        "on, beside the auxiliary identities; read at the private faces' size and planes "
                        "(default: none)")


AUTO_THREADS = "auto"
THREADS_HELP = ("torch CPU threads: auto (the cores nobody else is using now, watched for 0.2 s), "
                "N, or 0 for torch's own one per core; results are reproducible for a given seed and thread count, "
                "and the count used is saved with the results")


def add_threads_option(p: argparse.ArgumentParser, help: str = THREADS_HELP) -> None:
    """``--threads auto|N``: torch CPU threads of the command (``freqmix.cli`` applies it before the command
    runs)."""
    p.add_argument("--threads", type=threads_choice, default=AUTO_THREADS, metavar="auto|N", help=help)


def threads_choice(text: str) -> str | int:
    """``--threads``' value: ``auto`` or a count >= 0 (argparse's type: a bad one is a usage error)."""
    if text == AUTO_THREADS:
        return text
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give auto or a number of threads, not {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"give auto or a number of threads >= 0 (0: torch's default), not {count}")
    return count


def set_threads(threads: str | int) -> None:
    """Apply ``--threads``: ``auto`` (:func:`freqmix_base.threads.choose_threads`), a count, or 0 (torch's own)."""
    from freqmix_base.threads import choose_threads, use_threads

    count = choose_threads() if threads == AUTO_THREADS else threads
    if count:
        use_threads(count)


def config_from_args(args: argparse.Namespace, **overrides: object) -> TrainConfig:
    """A :class:`TrainConfig` from parsed options (flat names the parser lacks keep their defaults), then the flat
    ``overrides``."""
    from freqmix.experiment.config import TrainConfig, flat_fields

    values = {name: getattr(args, name) for name in flat_fields() if hasattr(args, name)}
    return TrainConfig.of(**{**values, **overrides})


def given_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options ``argv`` gives explicitly (``{"k", "channels"}``), a default value typed
    out included, as opposed to those left at their defaults.

    :param parser: the parser of one subcommand (built afresh: its defaults are cleared here).
    :param argv: that subcommand's arguments (after its name).
    """
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    parser._defaults.clear()  # set_defaults() values (the command's func, ...) would count as given
    given, _ = parser.parse_known_args(argv, argparse.Namespace())
    return set(vars(given))


def flag(dest: str) -> str:
    """The option an argparse destination comes from: ``n_high`` -> ``--n-high``."""
    return "--" + dest.replace("_", "-")


def note_unusual_k(k: int, linear: bool = True) -> None:
    """A one-line note (a warning, which the CLI prints as ``freqmix: warning: ...``) for a k outside the
    paper's range where nothing else protects: k = 1 with a ``linear`` recipe (no sign flip, drop or noise) trains
    on the masked faces alone."""
    from mixup_env.spaces import PAPER_K_CHOICES  # here: the help of the command line imports no torch

    low, high = min(PAPER_K_CHOICES), max(PAPER_K_CHOICES)
    if k == 1 and linear:
        warnings.warn("k = 1 mixes nothing and this recipe flips, drops and noises nothing: the masked faces alone "
                      "(ppfr's protection, or none's); the paper's k is 2..6", stacklevel=2)
    elif k > high:  # k < 1 is refused where the env checks its k choices
        warnings.warn(f"--k {k} lies outside the paper's range {low}..{high}; results are not comparable to its "
                      "tables", stacklevel=2)


def refuse_unused_options(config: TrainConfig, given: set[str]) -> None:
    """UnusedOptionError for an option in ``given`` (the options typed) that ``config`` would ignore: a field whose
    ``needs`` the other options do not meet (``--n-high`` without ``--channels high``), or a recipe field that the
    recipe action chooses per batch when the agent chooses whole recipes (a learning agent or a saved policy on
    ``FreqMixUpRecipe-v0``)."""
    from agents.registry import is_saved_policy, learns
    from freqmix.experiment.config import env_action, flat_fields
    from mixup_env.spaces import ACTION_FIELDS

    refuse_unused(config, [name for name in flat_fields() if name in given], spell=flag)
    agent = config.agent.name
    if is_saved_policy(agent) or learns(agent):
        chosen = [name for name in ACTION_FIELDS[env_action(config.agent.env_id)] if name in given]
        if chosen:
            raise UnusedOptionError(f"{flag(chosen[0])} does nothing: --agent {agent} chooses it for every batch on "
                                    f"--env {config.agent.env_id}; drop it")


def refuse_streaming(config: TrainConfig) -> None:
    """FreqmixError for a streamed configuration: it trains on every image, leaving none held out to score."""
    if config.task.stream:
        raise FreqmixError("--stream trains on every image, so no held-out identification is left for the "
                           "comparison to score; drop --stream (streaming is for freqmix train on large sets)")
