"""Assembly of a run's pieces: the env on the training faces (wrapped for multi-process runs and Box agents), the
step budget, and a dry build of the recognizer and agent so that bad settings fail before anything is written."""
from __future__ import annotations

import gymnasium as gym

from agents.continuous import BoxRelaxation
from agents.registry import agent_spec
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.lockstep import LockstepBroadcast
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from recognizer.distributed import ProcessGroup
from recognizer.faces import FaceDataset
from recognizer.streaming import StreamedTrainingSet
from recognizer.trainer import Recognizer


def make_env(config: TrainConfig, train: FaceDataset | StreamedTrainingSet, total_steps: int,
             group: ProcessGroup | None = None) -> gym.Env:
    """The env for ``config`` on the training faces ``train``, relaxed to a Box (``BoxRelaxation``) when the agent
    acts in one (SAC, TD3). In a multi-process run (``group``, this process being rank 0) every reset and step is
    sent to the other ranks first (:class:`LockstepBroadcast`)."""
    env: gym.Env = FreqMixUpEnv(train, config.env_config(total_steps, data_parallel=group is not None))
    if group is not None:
        env = LockstepBroadcast(env, group)
    return BoxRelaxation(env) if agent_spec(config.agent).box_actions else env


def total_steps(config: TrainConfig, train_size: int) -> int:
    """Recognizer steps of the run: ``steps`` if given, else ``epochs`` × steps per epoch (at least 1)."""
    if config.steps is not None:
        if config.steps < 1:
            raise FreqmixError(f"--steps must be >= 1, not {config.steps}")
        return config.steps
    if config.epochs <= 0:
        raise FreqmixError(f"--epochs must be > 0, not {config.epochs}")
    return max(1, round(config.epochs * (train_size // config.batch_size)))


def check_buildable(config: TrainConfig, env: gym.Env) -> None:
    """Build the run's recognizer and an agent on ``env`` once and drop them, so that a bad backbone, head, device,
    learning rate or agent setting fails before anything is written (the env builds its recognizer only at its
    first reset, and is left as it was: not reset, not stepped)."""
    base = env.unwrapped
    Recognizer.from_config(base.transform.out_channels, base.train_data.num_identities, config.recognizer_config(),
                           seed=config.seed)
    config.agent_config().build(env, seed=config.seed)
