"""Non-learning recipe choosers that behave as Stable-Baselines3 algorithms: ``predict()``, and a ``learn()`` that
acts for a number of env steps with SB3's callback protocol (nothing is learned), so that one training loop
(``freqmix.experiment.loop.drive``) serves every agent: a fixed k, k drawn at random, k on a schedule of the run's
progress; and the ``build(env, seed, hyperparams)`` functions that :mod:`agents.registry` names.

They read the action encoding from the env's :class:`mixup_env.spaces.ActionCodec` (the one place that says
what an action means) and nothing else of the env.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from agents.schedules import SCHEDULES
from freqmix_base.errors import FreqmixError
from mixup_env.recipe import Recipe
from mixup_env.spaces import ActionCodec

SelfChooser = TypeVar("SelfChooser", bound="_RecipeChooser")


class _RecipeChooser:
    """Shared plumbing: ``predict()`` (one action per observation, single or batched) and SB3's ``learn()`` loop."""

    def __init__(self, codec: ActionCodec, recipe: Recipe) -> None:
        self.codec = codec
        self.recipe = recipe
        self.env: gym.Env | None = None
        self.seed: int | None = None
        self.num_timesteps = 0
        self.end_timesteps = 0  # the step count at which the current learn() ends (schedules read the progress)
        self.logger = Logger(folder=None, output_formats=[])
        self._last_obs: np.ndarray | None = None

    def set_env(self, env: gym.Env, seed: int | None = None) -> None:
        """Act in ``env`` from now on; its first reset in :meth:`learn` uses ``seed`` (as SB3 seeds its env)."""
        self.env, self.seed, self._last_obs = env, seed, None

    def get_env(self) -> gym.Env | None:
        """The env :meth:`learn` acts in."""
        return self.env

    def set_logger(self, logger: Logger) -> None:
        """Where callbacks' ``logger.record`` goes (default: nowhere)."""
        self.logger = logger

    def learn(self: SelfChooser, total_timesteps: int, callback: BaseCallback | None = None, log_interval: int = 1,
              reset_num_timesteps: bool = True, progress_bar: bool = False) -> SelfChooser:
        """Choose the recipe of ``total_timesteps`` env steps, as SB3's ``learn()`` would (callbacks'
        ``on_rollout_start`` before every step, ``on_step`` after it; a False from ``on_step`` stops), resetting the
        env when an episode ends. ``reset_num_timesteps=False`` continues a run (a resumed one: the env's state is
        restored and no reset happens; choosers read no observation, so none is needed).

        :param log_interval, progress_bar: accepted for SB3 compatibility; there is nothing to log or learn.
        """
        if self.env is None:
            raise FreqmixError("call set_env(env) before learn()")
        if reset_num_timesteps:
            self.num_timesteps, self._last_obs = 0, None
        end = self.end_timesteps = self.num_timesteps + total_timesteps
        obs = self._last_obs
        if obs is None:
            obs = self.env.reset(seed=self.seed)[0] if reset_num_timesteps else self._resumed_observation()
        if callback is not None:
            callback.init_callback(self)  # type: ignore[arg-type]
            callback.on_training_start(locals(), globals())
        while self.num_timesteps < end:
            if callback is not None:
                callback.on_rollout_start()
            action, _ = self.predict(obs)
            new_obs, reward, terminated, truncated, info = self.env.step(action)
            self.num_timesteps += 1
            if terminated or truncated:
                new_obs, _ = self.env.reset()
            obs = self._last_obs = new_obs
            if callback is not None:
                callback.update_locals({"new_obs": [new_obs], "rewards": [reward], "infos": [info],
                                        "dones": [terminated or truncated]})
                if not callback.on_step():
                    break
        if callback is not None:
            callback.on_training_end()
        return self

    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """The state dicts of the chooser's networks, as SB3's ``get_parameters()`` (a chooser learns none)."""
        return {}

    def set_parameters(self, parameters: dict[str, dict[str, Any]], exact_match: bool = True) -> None:
        """SB3's ``set_parameters()`` for :meth:`get_parameters`' state dicts (none to set)."""
        if parameters and exact_match:
            raise ValueError(f"{type(self).__name__} has no parameters to load ({', '.join(parameters)} given)")

    def extra_state(self) -> dict[str, Any]:
        """What the chooser needs beyond :meth:`get_parameters` to continue exactly: its step count (a schedule's
        progress follows it), as plain types (the checkpoint protocol of :mod:`agents.checkpointing`)."""
        return {"num_timesteps": self.num_timesteps}

    def load_extra_state(self, state: dict[str, Any], steps_done: int) -> None:
        """Restore :meth:`extra_state` (``steps_done``: the step count of checkpoints that lack one)."""
        self.num_timesteps = int(state.get("num_timesteps", steps_done))

    def _resumed_observation(self) -> np.ndarray:
        """The observation a resumed run continues from (these choosers read none)."""
        return np.zeros(self.env.observation_space.shape, dtype=np.float32)

    def _action(self) -> Any:
        raise NotImplementedError

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Actions for ``observation`` (obs_dim,) or (n_envs, obs_dim); ``state`` is unused (no recurrence)."""
        obs = np.asarray(observation)
        if obs.ndim == 1:
            return np.asarray(self._action()), None
        return np.stack([np.asarray(self._action()) for _ in range(obs.shape[0])]), None


class FixedK(_RecipeChooser):
    """Always the same recipe: ``k`` images per mix (k = 1 is the no-defence baseline).

    :param k: images mixed per output; must be one of the env's k choices.
    :param codec: the env's action codec (``env.get_wrapper_attr("codec")``).
    :param recipe: the non-k recipe fields (weights, sign flip, drop); defaults to the codec's.
    """

    def __init__(self, k: int, codec: ActionCodec, recipe: Recipe | None = None) -> None:
        super().__init__(codec, replace(recipe or codec.default, k=k))
        self._fixed = codec.encode(self.recipe)

    def _action(self) -> Any:
        return self._fixed


class RandomK(_RecipeChooser):
    """k drawn uniformly from the env's k choices for every batch; the other recipe fields fixed.

    :param codec: the env's action codec.
    :param seed: seed of the chooser's own generator (separate from the env's).
    :param recipe: the non-k recipe fields; defaults to the codec's.
    """

    def __init__(self, codec: ActionCodec, seed: int | None = None, recipe: Recipe | None = None) -> None:
        super().__init__(codec, recipe or codec.default)
        self.rng = np.random.default_rng(seed)
        self._actions = [codec.encode(replace(self.recipe, k=k)) for k in codec.k_choices]

    def _action(self) -> Any:
        return self._actions[int(self.rng.integers(len(self._actions)))]

    def extra_state(self) -> dict[str, Any]:
        """The step count and the chooser's own generator."""
        return {**super().extra_state(), "rng": self.rng.bit_generator.state}

    def load_extra_state(self, state: dict[str, Any], steps_done: int) -> None:
        """Restore :meth:`extra_state`."""
        super().load_extra_state(state, steps_done)
        self.rng.bit_generator.state = state["rng"]


class KSchedule(_RecipeChooser):
    """k from a schedule of the run's progress; the other recipe fields fixed.

    :param name: a registered schedule (``linear``, ``step``, ``cosine``).
    :param codec: the env's action codec.
    :param recipe: the non-k recipe fields; defaults to the codec's.
    """

    def __init__(self, name: str, codec: ActionCodec, recipe: Recipe | None = None) -> None:
        super().__init__(codec, recipe or codec.default)
        self.name, self.shape = name, SCHEDULES.get(name)
        self._actions = [codec.encode(replace(self.recipe, k=k)) for k in codec.k_choices]

    def k_at(self, progress: float) -> int:
        """The k choice at ``progress`` (0..1) of the run."""
        low, high = self.codec.k_choices[0], self.codec.k_choices[-1]
        target = low + (high - low) * self.shape(min(max(progress, 0.0), 1.0))
        return self.codec.k_choices[int(np.argmin([abs(k - target) for k in self.codec.k_choices]))]

    def _action(self) -> Any:
        progress = self.num_timesteps / max(1, self.end_timesteps)
        return self._actions[self.codec.k_choices.index(self.k_at(progress))]


def build_fixed(env: gym.Env, seed: int, hyperparams: dict[str, Any]) -> FixedK:
    """The fixed agent on ``env``: ``hyperparams["k"]`` images per mix (its one hyperparameter)."""
    agent = FixedK(hyperparams["k"], env.get_wrapper_attr("codec"))
    agent.set_env(env, seed)
    return agent


def build_random(env: gym.Env, seed: int, hyperparams: dict[str, Any]) -> RandomK:
    """k drawn uniformly per batch, from the agent's own generator seeded with ``seed`` (no hyperparameters)."""
    agent = RandomK(env.get_wrapper_attr("codec"), seed=seed)
    agent.set_env(env, seed)
    return agent


def build_schedule(env: gym.Env, seed: int, hyperparams: dict[str, Any], schedule: str) -> KSchedule:
    """k following the registered ``schedule`` of the run's progress (no hyperparameters)."""
    agent = KSchedule(schedule, env.get_wrapper_attr("codec"))
    agent.set_env(env, seed)
    return agent
