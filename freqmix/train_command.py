"""``freqmix train``: its options, and how they become a run (a fresh one, a rerun of a saved ``config.json``, or
the continuation of a checkpointed one). Building the parser imports no torch (the run's modules are imported when
the command runs), so that a mistyped option fails at once."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from agents.config import AgentConfig
from agents.registry import AGENTS, chooser_defaults
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.defenses import DEFAULT_DEFENSE, defense_of
from freqmix.experiment.run_folder import finished_steps, interruption_note, planned_steps, recorded_threads
from freqmix.options import (
    add_hp_option, add_overwrite_option, add_train_options, config_from_args, flag, note_unusual_k, refuse_unused_options,
)
from freqmix_base.errors import FreqmixError
from freqmix_base.fields import default_of
from freqmix_base.threads import use_threads
from mixup_env import ENV_IDS

HELP = "train a recognizer on hybrid-masked faces, recipes chosen by an agent"
# What --resume may be combined with: everything else is the checkpointed run's own configuration.
RESUME_OPTIONS = frozenset({"resume", "steps", "save_every", "stop_at", "no_progress", "threads"})


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``freqmix train``."""
    p = sub.add_parser("train", help=HELP)
    add_train_options(p)
    p.add_argument("--defense", default=DEFAULT_DEFENSE,
                   help=f"start from this defense of freqmix compare (its transform, recipe, k or agent; its key drawn "
                        f"from --seed) and change it with the options given; default {DEFAULT_DEFENSE}, the best trade "
                        "measured (docs/threat_model.md); hybrid1-flip: the best fixed recipe; none: no protection (all "
                        "channels, no key, k = 1)")
    p.add_argument("--agent", default=default_of(AgentConfig, "name"),
                   help=" | ".join(AGENTS) + " (sac, td3: through the Box relaxation)")
    p.add_argument("--k", type=int, default=chooser_defaults("fixed")["k"],
                   help="a fixed k: the fixed agent's one hyperparameter (as --hp k=K), in place of a --defense's agent "
                        "that chooses k (default: the defense's; the paper's range is 2..6; 1 = no mixing)")
    p.add_argument("--env", default=default_of(AgentConfig, "env_id"),
                   help=" | ".join(ENV_IDS) + " (action: k alone, or the whole recipe)")
    add_hp_option(p, "override a hyperparameter of agents/hyperparams_yaml/<agent>.yml (repeatable), "
                     "e.g. --hp learning_rate=3e-4 --hp n_steps=16")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="rerun the configuration a run saved (its config.json, its thread count included); options given "
                        "here override it")
    p.add_argument("--out", default="runs/train", help="output folder (must be new or empty, see --overwrite)")
    add_overwrite_option(p)
    p.add_argument("--save-every", type=int, default=None, metavar="N",
                   help="write DIR/checkpoint.pt every N recognizer steps (atomically); --resume keeps it")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="write a checkpoint at STEP and stop (continue later with --resume)")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run in DIR from its checkpoint (its config and thread count; --steps may extend the "
                        "budget)")
    p.set_defaults(func=_cmd_train)


def config_of(args: argparse.Namespace, given: set[str]) -> TrainConfig:
    """The run's configuration: the options given, over the ``--config`` file's values when one is named, else over
    the ``--defense``'s protection (:data:`freqmix.experiment.defenses.DEFAULT_DEFENSE` unless named) and the
    defaults; FreqmixError for an option that the chosen agent, or the other options, would ignore."""
    from agents.hyperparams import parse_overrides

    hyperparams = {**parse_overrides(args.hp), **({"k": args.k} if "k" in given else {})}
    config = config_from_args(args, hyperparams=hyperparams)
    if args.config and "defense" in given:
        raise FreqmixError("--config reruns a run whose protection its config.json holds; drop --defense (or change "
                           "the protection with its options: --channels, --k, ...)")
    base = (_read_config(Path(args.config)) if args.config
            else TrainConfig(seed=config.seed).protected_as(defense_of(args.defense, config.seed, "--defense")))
    explicit = {name: value for name, value in config.flat().items() if name in given}
    if "k" in given and "agent" not in given:
        explicit["agent"] = "fixed"  # a k given outright replaces the defense's chooser (the mask and recipe stay)
    if "epochs" in given and "steps" not in given:
        explicit["steps"] = None  # the two are one budget: an explicit --epochs replaces the saved --steps
    # The base's hyperparameters are its agent's (a fixed defense's k): another agent starts from its own.
    kept = base.agent.hyperparams if explicit.get("agent", base.agent.name) == base.agent.name else {}
    config = base.with_options(**explicit, hyperparams={**kept, **config.agent.hyperparams})
    if "k" in given and config.agent.name != "fixed":
        raise FreqmixError(f"--k sets the fixed agent's k, but --agent {config.agent.name} chooses k itself; drop --k "
                           "(or use --agent fixed --k K)")
    refuse_unused_options(config, given)
    if config.agent.name == "fixed":
        note_unusual_k(config.agent.fixed_k(), config.recipe.linear)
    return config


def _read_config(path: Path) -> TrainConfig:
    if not path.is_file():
        raise FreqmixError(f"--config {path} does not exist; pass the config.json of a freqmix train run")
    text = path.read_text()
    config = TrainConfig.from_json(text)
    if '"agent"' not in text or '"data"' not in text:
        raise FreqmixError(f"--config {path} is not the config.json of a freqmix train run (no agent or data)")
    return config


def _reuse_recorded_threads(config_file: Path | None) -> None:
    """A rerun (``--config``) or continuation (``--resume``) without ``--threads`` trains under the thread count
    the run recorded, so that it reproduces the run."""
    recorded = recorded_threads(config_file) if config_file else None
    if recorded:
        use_threads(recorded)


def _cmd_train(args: argparse.Namespace) -> None:
    from freqmix.experiment.launch import run_training
    from freqmix.experiment.run import load_resume

    given: set[str] = args.given
    checkpoint, save_every = None, args.save_every
    if args.resume:
        out = Path(args.resume)
        if not out.is_dir():
            raise FreqmixError(f"--resume {out}: no such folder; pass the --out folder of a run trained with "
                               "--save-every N or --stop-at STEP")
        ignored = sorted(given - RESUME_OPTIONS)
        if ignored:
            raise FreqmixError(f"--resume continues the run as it was configured; drop "
                               f"{', '.join(flag(dest) for dest in ignored)} (or start a new run with --out)")
        done = finished_steps(out)
        if done is not None and (args.steps or planned_steps(out) or done) <= done:
            print(f"{out}: already finished ({done} steps, metrics.json); nothing to do. Pass --steps N > {done} to "
                  "extend it from its last checkpoint")
            return
        config, checkpoint = load_resume(out, args.steps)
        if "save_every" not in given:
            save_every = checkpoint.get("save_every")  # a second interruption loses no more than the first
    else:
        out = Path(args.out)
        config = config_of(args, given)
    if "threads" not in given:
        _reuse_recorded_threads(out / "config.json" if args.resume else args.config and Path(args.config))
    try:
        metrics = run_training(config, out, progress=not args.no_progress, save_every=save_every,
                               stop_at=args.stop_at, checkpoint=checkpoint, overwrite=args.overwrite)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(interruption_note(out)) from None
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return
    if metrics is None:
        print(f"stopped at step {args.stop_at} with a checkpoint; continue with: freqmix train --resume {out}")
        return

    def figure(name: str) -> str:  # a streamed run measures no held-out identification
        return "n/a" if metrics[name] is None else f"{metrics[name]:.4f}"

    print(f"identification accuracy {figure('identification_accuracy')}  "
          f"verification accuracy {figure('verification_accuracy')}  mean k {metrics['mean_k']:.2f}  "
          f"final loss {metrics['final_loss']:.3f}  {metrics['wall_seconds']:.1f} s  -> {out}")
    print(next_step(config, out))


def next_step(config: TrainConfig, out: Path) -> str:
    """What to run next: the attacks, or (a run of every identity, which leaves the attacker none of its own) how
    to train a run that can be attacked."""
    if config.task.private_fraction is None:
        return ("to measure privacy, train with --private-fraction 0.5 (the attacker needs identities of its own), "
                "then freqmix evaluate --run DIR")
    return f"attack it: freqmix evaluate --run {out} --budget smoke (minutes; the default budget gives the figures)"
