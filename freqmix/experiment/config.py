"""The run configuration: everything a run depends on, as the pieces' own configurations nested whole (the
transform, the recipe, the recognizer, the reward, the agent) beside the run's own (its task, its training), each
default stated once, in its piece; saved as ``config.json``.

The command line offers every nested field that carries flag metadata (:func:`freqmix_base.fields.option`) as
``--<flat name>``: the field's name, or its ``flat`` name (``agent.name`` is ``--agent``); :meth:`TrainConfig.of`
builds a configuration from flat names, :meth:`TrainConfig.flat` lists them. This module imports no torch, so that
a mistyped option fails before torch loads.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import typing
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

from agents.config import AgentConfig
from freqmix.experiment.defenses import Defense
from freqmix_base.errors import FreqmixError
from freqmix_base.fields import GIVEN, UnknownFieldError, default_of, option
from mixup_env import ENV_IDS
from mixup_env.env_config import EPISODES, EnvConfig
from mixup_env.recipe import Recipe
from mixup_env.rewards import RewardConfig
from mixup_env.transform_config import TransformConfig
from recognizer.config import RecognizerConfig
from recognizer.sampling import SAMPLERS

# The run's own choices where they differ from the pieces' defaults, stated here once: the env alone plays the
# paper's game (the loss reward, clean probes at episode ends only); a run constrains the clean accuracy, so it
# probes it every 10 steps.
RUN_OBJECTIVE = RewardConfig(reward="constrained")
RUN_PROBE_EVERY = 10


@dataclass(frozen=True)
class TaskConfig:
    """The faces a run trains on and is measured on (:mod:`freqmix.experiment.task`)."""

    data: str = option("synthetic", "synthetic | PATH (one folder per identity) | PATH/train.rec (insightface, "
                                    "train.idx beside it) | olivetti | lfw")
    image_size: int = option(112, "square image side in pixels (×8)")
    private_fraction: float | None = option(None, "train on this share of the identities only; the rest are the "
                                                  "attacker's (freqmix evaluate)")
    train_identities: str = option("private", "with --private-fraction: train on the private identities, or on the "
                                              "disjoint auxiliary ones (learn a policy on faces its deployment never "
                                              "sees)", choices=("private", "auxiliary"),
                                   needs=("private_fraction", GIVEN))
    train_per_identity: int | None = option(None, "training images per identity (default: half)")
    drop_small_identities: bool = option(False, "drop identities with fewer than 2 images instead of failing")
    pairs: str | None = option(None, "LFW-format pairs file for verification")
    val: list[str] | None = option(None, "insightface .bin verification set (repeatable); its results go to "
                                         "metrics.json under val_sets.<file stem>",
                                   action="append", type=str, metavar="FILE.bin")
    stream: bool = option(False, "read the training images batch by batch through DataLoader workers (sets larger "
                                 "than memory): trains on every image, measured by --val/--pairs only")
    data_workers: int = option(2, "image-decoding processes of --stream", needs=("stream", GIVEN))
    pretrain_on: str | None = option(None, "public faces (one folder per identity, none of them private) that the "
                                           "recognizer first trains on, through this run's mask (unmixed unless "
                                           "--pretrain-k); the run starts from that backbone (default: random "
                                           "weights)")
    pretrain_epochs: float = option(20, "epochs of --pretrain-on over the public faces", needs=("pretrain_on", GIVEN))
    pretrain_k: int = option(1, "public faces mixed per pretraining input, with this run's mixing weights (1: "
                                "unmixed)", needs=("pretrain_on", GIVEN))


@dataclass(frozen=True)
class TrainingConfig:
    """How long, in which batches and in how many processes the recognizer trains inside the env, and how the
    agent's episodes divide it (the env's fields take :class:`EnvConfig`'s defaults, but ``probe_every``)."""

    batch_size: int = option(default_of(EnvConfig, "batch_size"), "images per recognizer step")
    steps: int | None = option(None, "recognizer steps", group="budget")
    epochs: float = option(200, "epochs over the training split", group="budget")
    nproc: int = option(1, "recognizer processes under torch.distributed (DDP over the global --batch-size; gloo on "
                           "CPU, NCCL on CUDA); rank 0 runs the agent")
    probe_every: int = option(RUN_PROBE_EVERY, "clean-probe accuracy every N steps (0 = at episode ends only)")
    episode: str = option(default_of(EnvConfig, "episode"), "epoch: one long game; run: each episode trains a fresh "
                                                            "recognizer for the whole budget", choices=EPISODES)
    episodes: int = option(1, "with --episode run: runs the agent learns over (the last one is measured)",
                           needs=("episode", "run"))
    augment_shift: float = option(default_of(EnvConfig, "augment_shift"), "random translation of training images, as "
                                                                          "a fraction of the side (0 = off)")
    augment_step: int = option(default_of(EnvConfig, "augment_step"), "the translation moves faces in steps of this "
                                                                      "many pixels (8: whole DCT blocks, which an "
                                                                      "observer linking epochs gains nothing from)")
    sampler: str = option(default_of(EnvConfig, "sampler"), "order of the training faces in each epoch: balanced "
                                                            "(each identity an equal share, its faces repeated as "
                                                            "needed) or shuffle (each face once)", choices=SAMPLERS)


class FlatField(NamedTuple):
    """One flat name of the run configuration: the nested field it stands for (``piece`` None: a field of
    :class:`TrainConfig` itself) and that field's type."""

    piece: str | None
    field: dataclasses.Field
    kind: Any


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on, the pieces' configurations nested whole; saved as ``config.json`` next to the
    results. ``recipe`` holds the non-k fields of the recipe (its k stays 1): k is the agent's choice (for the fixed
    agent its hyperparameter ``k``)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)
    recipe: Recipe = field(default_factory=Recipe)
    recognizer: RecognizerConfig = field(default_factory=RecognizerConfig)
    objective: RewardConfig = RUN_OBJECTIVE
    training: TrainingConfig = field(default_factory=TrainingConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    seed: int = option(0, "the one seed of every generator")

    def __post_init__(self) -> None:
        if self.recipe.k != default_of(Recipe, "k"):
            raise FreqmixError(f"recipe.k={self.recipe.k} does nothing: k is the agent's choice (the fixed agent's "
                               "hyperparameter k, --k)")
        if self.seed < 0:  # checked here, before a defense draws its key from it or any data is read
            raise FreqmixError(f"--seed must be a non-negative integer, not {self.seed}")

    @classmethod
    def of(cls, **flat: Any) -> TrainConfig:
        """The defaults with the flat options applied (``TrainConfig.of(agent="reinforce", channels="high")``)."""
        return cls().with_options(**flat)

    def with_options(self, **flat: Any) -> TrainConfig:
        """This configuration with the flat options applied; UnknownFieldError for a name it does not take."""
        names = flat_fields()
        unknown = sorted(set(flat) - set(names))
        if unknown:
            raise UnknownFieldError(f"unknown option {unknown[0]!r} for the run configuration; it takes "
                                    f"{', '.join(sorted(names))}")
        pieces: dict[str, dict[str, Any]] = {}
        for name, value in flat.items():
            piece, f, _ = names[name]
            pieces.setdefault(piece or "", {})[f.name] = value
        own = pieces.pop("", {})
        return replace(self, **own, **{piece: replace(getattr(self, piece), **values)
                                       for piece, values in pieces.items()})

    def flat(self) -> dict[str, Any]:
        """Every flat option and its value (the form of the ``config.json`` files of older versions)."""
        return {name: getattr(getattr(self, piece) if piece else self, f.name)
                for name, (piece, f, _) in flat_fields().items()}

    def defended_by(self, defense: Defense, hyperparams: dict[str, Any] | None = None) -> TrainConfig:
        """This run under ``defense`` (of one seed: ``Defense.for_seed``): its transform and recipe replaced whole,
        its agent the defense's (with ``hyperparams``, default none), its reward the defense's, and its agent's env
        and smallest k, its privacy term and exposure reading where the defense names them (the reward's other
        fields stay this run's)."""
        own = {} if defense.k is None else {"k": defense.k}
        agent = AgentConfig(name=defense.agent, hyperparams={**(hyperparams or {}), **own})
        agent = replace(agent, **_given(env_id=defense.env_id, k_min=defense.k_min))
        objective = replace(self.objective, reward=defense.reward,
                            **_given(privacy=defense.privacy, exposure=defense.exposure))
        return replace(self, transform=defense.transform, recipe=defense.recipe, agent=agent, objective=objective)

    def protected_as(self, defense: Defense) -> TrainConfig:
        """This run protected as ``defense`` protects it (``freqmix train --defense``): :meth:`defended_by`, but a
        defense whose k is fixed leaves the reward this run's (a fixed k learns nothing from it, and an agent named
        on top learns under the run's)."""
        defended = self.defended_by(defense)
        return defended if defense.agent != "fixed" else replace(defended, objective=self.objective)

    def recognizer_config(self, data_parallel: bool = False) -> RecognizerConfig:
        """The recognizer of the run (``data_parallel``: one replica of a multi-process run)."""
        return replace(self.recognizer, data_parallel=data_parallel)

    def env_config(self, total_steps: int | None = None, data_parallel: bool = False) -> EnvConfig:
        """The env of the run, planned for ``total_steps`` recognizer steps (cosine lr schedule; per episode with
        ``episode="run"``); ``data_parallel``: one replica of a multi-process run."""
        training = self.training
        return EnvConfig(action=env_action(self.agent.env_id), k_choices=self.agent.k_choices(),
                         default_recipe=self.recipe, transform=self.transform,
                         recognizer=self.recognizer_config(data_parallel),
                         batch_size=training.batch_size, episode=training.episode, total_steps=total_steps,
                         probe_every=training.probe_every, objective=self.objective,
                         augment_shift=training.augment_shift, augment_step=training.augment_step,
                         sampler=training.sampler)

    def to_json(self) -> str:
        """``config.json``'s text, nested as the configuration is (without the resolved step count, which
        :func:`run_training` adds)."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The config ``config.json`` (or a checkpoint) holds, nested or flat (the files of older versions); keys
        it does not know (``resolved_steps``) are skipped, keys it lacks keep their defaults, except two that older
        runs trained without, so that their reruns and resumes stay the runs they were: a flat file's
        ``input_norm`` (none) and any file's ``sampler`` (shuffle). The agent's ``k`` of older files becomes the
        fixed agent's hyperparameter (other agents ignored it)."""
        try:
            saved = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FreqmixError(f"config.json is not valid JSON: {exc}") from None
        if not isinstance(saved, dict):
            raise FreqmixError("config.json does not hold an object of options")
        if not isinstance(saved.get("transform"), dict):  # flat: one key per option
            saved = {"input_norm": "none", "sampler": "shuffle", **saved}
            saved["hyperparams"] = _with_old_k(saved.get("agent"), saved.pop("k", None), saved.get("hyperparams"))
            return cls.of(**{name: value for name, value in saved.items() if name in flat_fields()})
        if isinstance(saved.get("agent"), dict) and "k" in saved["agent"]:
            agent = saved["agent"]
            agent["hyperparams"] = _with_old_k(agent.get("name"), agent.pop("k"), agent.get("hyperparams"))
        if isinstance(saved.get("training"), dict):
            saved["training"] = {"sampler": "shuffle", **saved["training"]}
        values: dict[str, Any] = {}
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]) and isinstance(saved.get(f.name), dict):
                piece = hints[f.name]
                known = {g.name for g in dataclasses.fields(piece)}
                values[f.name] = piece(**{key: value for key, value in saved[f.name].items() if key in known})
            elif f.name in saved:
                values[f.name] = saved[f.name]
        return cls(**values)


def _with_old_k(agent: str | None, k: int | None, hyperparams: dict[str, Any] | None) -> dict[str, Any]:
    """The hyperparameters of an agent saved with the separate ``k`` of older versions: the fixed agent's own."""
    own = {"k": k} if k is not None and (agent or default_of(AgentConfig, "name")) == "fixed" else {}
    return {**own, **(hyperparams or {})}


@functools.cache
def flat_fields() -> dict[str, FlatField]:
    """The flat names of :class:`TrainConfig` (its own fields that are not pieces, and the pieces' fields that carry
    flag metadata), in declaration order."""
    names: dict[str, FlatField] = {}
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if not dataclasses.is_dataclass(hints[f.name]):
            names[f.name] = FlatField(None, f, hints[f.name])
            continue
        piece_hints = typing.get_type_hints(hints[f.name])
        for g in dataclasses.fields(hints[f.name]):
            if "help" in g.metadata or "flat" in g.metadata:
                names[g.metadata.get("flat", g.name)] = FlatField(f.name, g, piece_hints[g.name])
    return names


def env_action(env_id: str) -> str:
    """The action kind (``"k"`` or ``"recipe"``) of a registered FreqMixUp env id; UnknownNameError if unknown."""
    return ENV_IDS.get(env_id)


def _given(**fields: Any) -> dict[str, Any]:
    """The fields whose value is not None (a defense's None: the run's own)."""
    return {name: value for name, value in fields.items() if value is not None}
