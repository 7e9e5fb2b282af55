"""Agent registry: name -> how to build it on an env, and whether it learns (``learn()``) or only predicts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym

from agents.baselines import FixedK, RandomK


@dataclass(frozen=True)
class AgentSpec:
    """How to build one agent.

    :param build: ``build(env, seed, k, hyperparams) -> agent`` with SB3's ``predict()`` (and ``learn()`` when
        ``learns``).
    :param learns: whether the agent trains with ``learn(total_timesteps)``.
    :param defaults: default hyperparameters (overridable).
    """

    build: Callable[..., Any]
    learns: bool
    defaults: dict[str, Any] = field(default_factory=dict)


AGENTS: dict[str, AgentSpec] = {
    "fixed": AgentSpec(lambda env, seed, k, hyperparams: FixedK(k, env.get_wrapper_attr("codec")), learns=False),
    "random": AgentSpec(lambda env, seed, k, hyperparams: RandomK(env.get_wrapper_attr("codec"), seed=seed),
                        learns=False),
}


def agent_spec(name: str) -> AgentSpec:
    """The registered spec of ``name``; ValueError listing the choices if unknown."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(AGENTS)}")
    return AGENTS[name]


def build_agent(name: str, env: gym.Env, seed: int, k: int = 2, hyperparams: dict[str, Any] | None = None) -> Any:
    """Build agent ``name`` on ``env`` with its own ``seed``; ``k`` is used by ``fixed``."""
    spec = agent_spec(name)
    return spec.build(env, seed, k, {**spec.defaults, **(hyperparams or {})})
