"""Assembly of a run's pieces: the env on the training faces (wrapped for multi-process runs and Box agents), the
step budget, a dry build of the recognizer and agent so that bad settings fail before anything is written, and the
hyperparameters each agent of a several-agent command gets."""
from __future__ import annotations

from typing import Any

import gymnasium as gym

from agents.continuous import BoxRelaxation
from agents.build import agent_spec, build_configured
from agents.registry import learns
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.lockstep import LockstepBroadcast
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from recognizer.distributed import ProcessGroup
from recognizer.faces import FaceDataset
from recognizer.streaming import StreamedTrainingSet
from recognizer.trainer import Recognizer


def make_env(config: TrainConfig, train: FaceDataset | StreamedTrainingSet, total_steps: int,
             group: ProcessGroup | None = None, pool: FaceDataset | None = None) -> gym.Env:
    """The env for ``config`` on the training faces ``train`` (and its public ``pool``), relaxed to a Box (``BoxRelaxation``) when the agent
    acts in one (SAC, TD3). In a multi-process run (``group``, this process being rank 0) every reset and step is
    sent to the other ranks first (:class:`LockstepBroadcast`)."""
    env_config = config.env_config(total_steps, data_parallel=group is not None)
    env: gym.Env = FreqMixUpEnv(train, env_config, pool=pool)
    if group is not None:
        env = LockstepBroadcast(env, group)
    return BoxRelaxation(env) if agent_spec(config.agent.name).entry.box_actions else env


def total_steps(config: TrainConfig, train_size: int) -> int:
    """Recognizer steps of the run: ``steps`` if given, else ``epochs`` × steps per epoch (at least 1)."""
    if config.training.steps is not None:
        if config.training.steps < 1:
            raise FreqmixError(f"--steps must be >= 1, not {config.training.steps}")
        return config.training.steps
    if config.training.epochs <= 0:
        raise FreqmixError(f"--epochs must be > 0, not {config.training.epochs}")
    return max(1, round(config.training.epochs * (train_size // config.training.batch_size)))


def check_buildable(config: TrainConfig, env: gym.Env) -> None:
    """Build the run's recognizer and an agent on ``env`` once and drop them, so that a bad backbone, head, device,
    learning rate or agent setting fails before anything is written (the env builds its recognizer only at its
    first reset, and is left as it was: not reset, not stepped)."""
    base = env.unwrapped
    Recognizer.from_config(base.transform.out_channels, base.train_data.num_identities, config.recognizer,
                           seed=config.seed)
    build_configured(config.agent, env, seed=config.seed)


def hyperparams_for(base: TrainConfig, agent: str) -> dict[str, Any]:
    """The hyperparameter overrides of ``base`` (``--hp``) that agent ``agent`` gets in a command that runs several
    agents: all of them for a learning agent, none for fixed, random, the schedules and saved policies."""
    return dict(base.agent.hyperparams) if learns(agent) else {}
