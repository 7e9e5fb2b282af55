"""The agents, registered once: name -> where to find it and what it takes, without importing it.

As ``gymnasium.register`` names an env by its ``"module:attr"`` entry point, an :class:`AgentEntry` names an agent
by its own (an SB3 algorithm class, or the ``build`` function of a recipe chooser), so that this module imports
neither torch nor Stable-Baselines3: the command line lists, checks and documents the agents from here, and
:mod:`agents.build` imports an agent only to build it. Add an algorithm with one :func:`register_sb3` line here
(plus its YAML file, ``agents/hyperparams_yaml/<name>.yml``; see docs/agents.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from gymnasium import spaces

from agents.schedules import SCHEDULES
from freqmix_base.registry import Registry

DISCRETE_SPACES: tuple[type[spaces.Space], ...] = (spaces.Discrete, spaces.MultiDiscrete)


@dataclass(frozen=True)
class AgentEntry:
    """Where one agent is and what it takes.

    :param entry_point: ``"module:attr"``: a learning agent's SB3 algorithm class, or a chooser's
        ``build(env, seed, hyperparams, **kwargs)``.
    :param learns: whether the agent trains with ``learn(total_timesteps)`` (its hyperparameters then come from its
        YAML file).
    :param defaults: a chooser's own hyperparameters and their defaults (the fixed agent's ``k``); it takes no
        others.
    :param kwargs: fixed keyword arguments of a chooser's ``build`` (a schedule's name).
    :param box_actions: the agent acts in a Box: the env is wrapped in ``agents.continuous.BoxRelaxation`` first.
    :param action_spaces: the discrete action spaces the agent can choose in (before any relaxation).
    """

    entry_point: str
    learns: bool
    defaults: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    box_actions: bool = False
    action_spaces: tuple[type[spaces.Space], ...] = DISCRETE_SPACES

    def load(self) -> Any:
        """The object the entry point names (imports its module)."""
        module, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module), attr)


AGENTS: Registry[AgentEntry] = Registry("agent", "--agent")
AGENTS.register("fixed", AgentEntry("agents.baselines:build_fixed", learns=False, defaults={"k": 2}))
AGENTS.register("random", AgentEntry("agents.baselines:build_random", learns=False))
for _name in SCHEDULES.names():
    AGENTS.register(_name, AgentEntry("agents.baselines:build_schedule", learns=False, kwargs={"schedule": _name}))


def register_sb3(name: str, entry_point: str, box_actions: bool = False,
                 action_spaces: tuple[type[spaces.Space], ...] = DISCRETE_SPACES) -> None:
    """Register an SB3 algorithm under ``name``; its hyperparameters come from ``<HYPERPARAMS_DIR>/<name>.yml``.

    :param name: the agent name (``freqmix train --agent NAME``) and YAML file stem.
    :param entry_point: ``"module:Class"`` of the SB3 algorithm (imported only when the agent is built).
    :param box_actions: it acts in a Box (SAC, TD3): the env is relaxed by ``BoxRelaxation``.
    :param action_spaces: the discrete action spaces it can choose in (before any relaxation).
    """
    AGENTS.register(name, AgentEntry(entry_point, learns=True, box_actions=box_actions, action_spaces=action_spaces))


register_sb3("reinforce", "agents.reinforce:REINFORCE")
register_sb3("ppo", "stable_baselines3:PPO")
register_sb3("a2c", "stable_baselines3:A2C")
register_sb3("dqn", "stable_baselines3:DQN", action_spaces=(spaces.Discrete,))
register_sb3("sac", "stable_baselines3:SAC", box_actions=True)
register_sb3("td3", "stable_baselines3:TD3", box_actions=True)


def is_saved_policy(name: str) -> bool:
    """Whether an ``--agent`` value names a saved policy file (``DIR/agent.zip``) rather than a registered agent."""
    return str(name).endswith(".zip")


def learns(name: str) -> bool:
    """Whether agent ``name`` learns (a saved policy only acts); UnknownNameError listing the choices if unknown."""
    return False if is_saved_policy(name) else AGENTS.get(name).learns


def chooser_defaults(name: str) -> dict[str, Any]:
    """The hyperparameters a non-learning agent takes, with their defaults (none for a saved policy)."""
    return {} if is_saved_policy(name) else dict(AGENTS.get(name).defaults)
