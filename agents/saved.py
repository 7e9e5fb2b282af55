"""A policy saved by ``freqmix train`` (``DIR/agent.zip``) acting without learning: deploy a learned k policy on
other faces (``freqmix train --agent DIR/agent.zip``).

The algorithm that saved it is read from the ``config.json`` beside the zip (``agent.name``). Actions are
sampled from the policy (not its argmax), so the deployed mixing follows the learned distribution; the samples
come from torch's generator, which the run seeds.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.baselines import _RecipeChooser
from freqmix_base.errors import FreqmixError


class SavedPolicy(_RecipeChooser):
    """A saved SB3 policy that only acts.

    :param model: the loaded SB3 algorithm.
    :param env: the env it acts in (its spaces must be the ones the policy was learned in).
    """

    def __init__(self, model: BaseAlgorithm, env: gym.Env) -> None:
        codec = env.get_wrapper_attr("codec")
        super().__init__(codec, codec.default)
        if model.observation_space != env.observation_space or model.action_space != env.action_space:
            raise FreqmixError(f"the saved policy acts on {model.observation_space} -> {model.action_space}, this "
                               f"env on {env.observation_space} -> {env.action_space}; deploy it on data with as "
                               "many image planes and the same masking and k choices")
        self.model = model

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """The policy's action(s) for ``observation`` (sampled unless ``deterministic``)."""
        action, _ = self.model.predict(observation, deterministic=deterministic)
        return action, None

    def _resumed_observation(self) -> np.ndarray:
        return self.env.unwrapped.current_observation()


def saved_policy_builder(path: str, algorithms: dict[str, type[BaseAlgorithm]]) -> Callable[..., SavedPolicy]:
    """A ``build(env, seed, hyperparams)`` that loads ``path`` with the algorithm its run's config.json names (a
    saved policy takes no hyperparameters).

    :param algorithms: registered agent name -> SB3 class.
    """

    def build(env: gym.Env, seed: int, hyperparams: dict[str, Any]) -> SavedPolicy:
        zip_path = Path(path)
        config = zip_path.parent / "config.json"
        if not zip_path.is_file():
            raise FreqmixError(f"no saved policy at {zip_path}; pass the agent.zip of a finished freqmix train run")
        try:
            agent = json.loads(config.read_text())["agent"]
            name = agent["name"] if isinstance(agent, dict) else agent  # nested, or the flat file of older versions
        except (OSError, ValueError, KeyError, TypeError):
            raise FreqmixError(f"{config} is missing or names no agent; the saved policy's algorithm is unknown"
                               ) from None
        if name not in algorithms:
            raise FreqmixError(f"{zip_path} was saved by agent {name!r}, which is not a learning agent")
        agent = SavedPolicy(algorithms[name].load(zip_path, device="cpu"), env)
        agent.set_env(env, seed)
        return agent

    return build
