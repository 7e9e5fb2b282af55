"""The run configuration: everything a run depends on, one field per ``freqmix train`` option, saved resolved as
``config.json``; the typed configurations of the pieces (recipe, transform, recognizer, reward, env, agent) are
derived from it by field name, and each default is the piece's own."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from agents.registry import AgentConfig, agent_spec
from freqmix_base.errors import FreqmixError
from freqmix_base.fields import default_of, pick
from mixup_env import ENV_IDS
from mixup_env.env import EPISODES, EnvConfig
from mixup_env.frequency import SELECTIONS, TransformConfig
from mixup_env.masking import WEIGHT_SCHEMES, Recipe
from mixup_env.rewards import ASCENTS, PRIVACY_TERMS, REWARDS, RewardConfig
from mixup_env.spaces import PAPER_K_CHOICES
from recognizer.input_norm import INPUT_NORMS
from recognizer.trainer import PRECISIONS, RecognizerConfig


def _option(default: Any, help: str, **argparse_kwargs: Any) -> Any:
    """A TrainConfig field that ``freqmix.options.add_train_options`` offers as ``--name`` (``help`` and the extra
    argparse arguments, e.g. ``choices``, are its flag's; ``group`` names a mutually exclusive group)."""
    return field(default=default, metadata={"help": help, **argparse_kwargs})


def _piece(piece: type, name: str, help: str, **argparse_kwargs: Any) -> Any:
    """An option whose default is the piece's own (field ``name`` of the dataclass ``piece``): stated once."""
    return _option(default_of(piece, name), help, **argparse_kwargs)


@dataclass
class TrainConfig:
    """Everything a run depends on, as the user gives it (one field per command-line option); saved resolved as
    ``config.json`` next to the results. The typed configurations of the pieces are derived from it by field name
    (:meth:`env_config`, :meth:`agent_config`, ...)."""

    data: str = _option("synthetic", "synthetic | PATH (one folder per identity) | PATH/train.rec (insightface, "
                                     "train.idx beside it) | olivetti | lfw")
    agent: str = "fixed"
    k: int = default_of(AgentConfig, "k")
    env: str = "FreqMixUp-v0"
    channels: str = _piece(TransformConfig, "channels", "frequency channels kept", choices=SELECTIONS)
    n_high: int = _piece(TransformConfig, "n_high", "channels per plane kept by --channels high")
    key: int | None = _piece(TransformConfig, "key", "secret key of the channel shuffle (default: none)")
    upsample: int = _piece(TransformConfig, "upsample", "×s upsampling before the DCT")
    image_size: int = _option(112, "square image side in pixels (×8)")
    weights: str = _piece(Recipe, "weights", "mixing weight scheme", choices=WEIGHT_SCHEMES)
    alpha: float = _piece(Recipe, "alpha", "Dirichlet concentration")
    sign_flip: bool = _piece(Recipe, "sign_flip", "random sign flip of mixed coefficients")
    drop: float = _piece(Recipe, "drop", "fraction of channels zeroed per mixed output")
    laplace_epsilon: float | None = _piece(Recipe, "laplace_epsilon", "DCTDP: Laplace noise of budget ε on the mixed "
                                                                      "coefficients (default: none)")
    backbone: str = _piece(RecognizerConfig, "backbone", "small | iresnet18 | iresnet50")
    head: str = _piece(RecognizerConfig, "head", "arcface | cosface | softmax")
    embedding_dim: int = _piece(RecognizerConfig, "embedding_dim", "embedding size")
    input_norm: str = _piece(RecognizerConfig, "input_norm", "what the recognizer does to each input first: rms "
                                                             "(divide it by its own RMS, so that mixes and clean faces "
                                                             "arrive at one scale) or none", choices=INPUT_NORMS.names())
    lr: float = _piece(RecognizerConfig, "lr", "recognizer SGD learning rate (cosine schedule)")
    batch_size: int = _piece(EnvConfig, "batch_size", "images per recognizer step")
    device: str = _piece(RecognizerConfig, "device", "recognizer device (cpu, cuda); agents stay on the CPU")
    precision: str = _piece(RecognizerConfig, "precision", "recognizer arithmetic: fp32, or bf16/fp16 autocast (fp16: "
                                                           "CUDA only)", choices=PRECISIONS)
    channels_last: bool = _piece(RecognizerConfig, "channels_last", "channels-last memory format for the recognizer "
                                                                    "(for CUDA convolutions)")
    nproc: int = _option(1, "recognizer processes under torch.distributed (DDP over the global --batch-size; gloo on "
                            "CPU, NCCL on CUDA); rank 0 runs the agent")
    steps: int | None = _option(None, "recognizer steps", group="budget")
    epochs: float = _option(200, "epochs over the training split", group="budget")
    # The run's own choices where they differ from the env's defaults (the env alone plays the paper's game: the
    # loss reward, probes at episode ends): a run probes and constrains accuracy unless told otherwise.
    probe_every: int = _option(10, "clean-probe accuracy every N steps (0 = at episode ends only)")
    reward: str = _option("constrained", "constrained: privacy (--privacy) - λ × accuracy shortfall × the step's share "
                                         "of the mixing, λ by dual ascent; loss: the paper's (recognition loss)",
                                         choices=REWARDS.names())
    accuracy_target: float = _piece(RewardConfig, "accuracy_target", "clean-probe accuracy below which a step has a "
                                                                     "cost")
    lambda_lr: float = _piece(RewardConfig, "lambda_lr", "constrained reward: dual ascent step on λ per probe and unit "
                                                         "of shortfall")
    privacy: str = _piece(RewardConfig, "privacy", "constrained reward's privacy term: loss (of the mixed batch) or "
                                                   "leakage (1 - SSIM of the free analytic attack on it)",
                                                   choices=PRIVACY_TERMS)
    constraint_start: float = _piece(
        RewardConfig, "constraint_start", "constrained reward: share of the run from which the constraint binds",
        )
    lambda_kp: float = _piece(RewardConfig, "lambda_kp", "constrained reward: proportional gain (PID Lagrangian): the "
                                                         "price of the shortfall is λ + gain × shortfall")
    ascent: str = _piece(RewardConfig, "ascent", "constrained reward: plain dual ascent on λ, or conditional (each "
                                                 "step scaled by how far the mixing since the last probe can still "
                                                 "respond: no wind-up while k is already the least)", choices=ASCENTS)
    utility_weight: float = _piece(RewardConfig, "utility_weight", "loss reward: reward -= weight × the accuracy "
                                                                   "shortfall")
    episode: str = _piece(EnvConfig, "episode", "epoch: one long game; run: each episode trains a fresh recognizer for "
                                                "the whole budget", choices=EPISODES)
    episodes: int = _option(1, "with --episode run: runs the agent learns over (the last one is measured)")
    train_identities: str = _option("private", "with --private-fraction: train on the private identities, or on the "
                                               "disjoint auxiliary ones (learn a policy on faces its deployment never "
                                               "sees)", choices=("private", "auxiliary"))
    augment_shift: float = _piece(EnvConfig, "augment_shift", "random translation of training images, as a fraction of "
                                                              "the side (0 = off)")
    train_per_identity: int | None = _option(None, "training images per identity (default: half)")
    drop_small_identities: bool = _option(False, "drop identities with fewer than 2 images instead of failing")
    pairs: str | None = _option(None, "LFW-format pairs file for verification")
    val: list[str] | None = _option(None, "insightface .bin verification set (repeatable); its results go to "
                                          "metrics.json under val_sets.<file stem>",
                                          action="append", type=str, metavar="FILE.bin")
    stream: bool = _option(False, "read the training images batch by batch through DataLoader workers (sets larger "
                                  "than memory): trains on every image, measured by --val/--pairs only")
    data_workers: int = _option(2, "image-decoding processes of --stream")
    private_fraction: float | None = _option(None, "train on this share of the identities only; the rest are the "
                                                   "attacker's (freqmix evaluate)")
    pretrain_on: str | None = _option(None, "public faces (one folder per identity, none of them private) that the "
                                            "recognizer first trains on, unmixed and through this run's mask; the run "
                                            "starts from that backbone (default: random weights)")
    pretrain_epochs: float = _option(20, "epochs of --pretrain-on over the public faces")
    seed: int = _option(0, "the one seed of every generator")
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def k_choices(self) -> tuple[int, ...]:
        """The env's k choices: the paper's {2..6}, plus a fixed agent's k when it lies outside them."""
        extra = {self.k} if self.agent == "fixed" else set()
        return tuple(sorted(set(PAPER_K_CHOICES) | extra))

    # The typed configurations of the pieces a run builds, taken from the same-named fields of this record.
    def recipe(self) -> Recipe:
        """The recipe fields other than k (k is the agent's choice; 2 until it chooses)."""
        return pick(Recipe, self, k=2)

    def transform_config(self) -> TransformConfig:
        """The frequency transform of the run."""
        return pick(TransformConfig, self)

    def recognizer_config(self, data_parallel: bool = False) -> RecognizerConfig:
        """The recognizer of the run (``data_parallel``: one replica of a multi-process run)."""
        return pick(RecognizerConfig, self, data_parallel=data_parallel)

    def env_config(self, total_steps: int | None = None, data_parallel: bool = False) -> EnvConfig:
        """The env of the run, planned for ``total_steps`` recognizer steps (cosine lr schedule; per episode with
        ``episode="run"``); ``data_parallel``: one replica of a multi-process run."""
        return pick(EnvConfig, self, action=env_action(self.env), k_choices=self.k_choices(),
                    default_recipe=self.recipe(), transform=self.transform_config(),
                    recognizer=self.recognizer_config(data_parallel), total_steps=total_steps,
                    objective=pick(RewardConfig, self))

    def agent_config(self) -> AgentConfig:
        """The agent of the run (its own seed is the run's)."""
        return AgentConfig(name=self.agent, k=self.k, hyperparams=self.hyperparams, env_id=self.env)

    def to_json(self) -> str:
        """``config.json``'s text (without the resolved step count, which :func:`run_training` adds)."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The config ``config.json`` (or a checkpoint) holds; keys it does not know (``resolved_steps``) are
        skipped, keys it lacks (files of older versions) keep their defaults, except ``input_norm``: runs saved
        before it existed trained without one, so that their reruns and resumes stay the runs they were."""
        try:
            saved = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FreqmixError(f"config.json is not valid JSON: {exc}") from None
        if not isinstance(saved, dict):
            raise FreqmixError("config.json does not hold an object of options")
        saved = {"input_norm": "none", **saved}
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})


def env_action(env_id: str) -> str:
    """The action kind (``"k"`` or ``"recipe"``) of a registered FreqMixUp env id; UnknownNameError if unknown."""
    return ENV_IDS.get(env_id)


def hyperparams_for(base: TrainConfig, agent: str) -> dict[str, Any]:
    """The hyperparameter overrides of ``base`` (``--hp``) that agent ``agent`` gets in a command that runs several
    agents: all of them for a learning agent, none for fixed, random, the schedules and saved policies."""
    return dict(base.hyperparams) if agent_spec(agent).learns else {}
