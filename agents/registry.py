"""Agent registry: name -> how to build it on an env, whether it learns, and how to load a saved one.

Learning agents are Stable-Baselines3 algorithms (REINFORCE included) built with the hyperparameters of
``agents/hyperparams_yaml/<name>.yml`` for the env id, updated by the caller's overrides, on the CPU, seeded with
the run's seed, and — on envs that expose an ``ObservationLayout`` — with the split features extractor of
:mod:`agents.policies`. Add an algorithm with :func:`register_sb3` (see docs/agents.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise

from agents.baselines import FixedK, RandomK
from agents.config import AgentConfig
from agents.hyperparams import HYPERPARAMS_DIR, check_hyperparams, load_hyperparams, schedule
from agents.policies import split_policy_kwargs
from agents.reinforce import REINFORCE
from agents.saved import is_saved_policy, saved_policy_builder
from agents.schedules import SCHEDULES, KSchedule
from freqmix_base.errors import FreqmixError
from freqmix_base.registry import Registry

# Not an SB3 argument: the standard deviation of TD3's Gaussian exploration noise (RL Zoo's ``noise_std``), in
# units of the [-1, 1] Box; SAC explores through its own entropy and does not take it.
NOISE_STD_KEY = "noise_std"


@dataclass(frozen=True)
class AgentSpec:
    """How to build one agent.

    :param build: ``build(env, seed, k, hyperparams) -> agent`` with SB3's ``predict()`` (and ``learn()`` when
        ``learns``).
    :param learns: whether the agent trains with ``learn(total_timesteps)``.
    :param defaults: default hyperparameters of agents without a YAML file (overridable).
    :param algorithm: the SB3 class of a learning agent (its ``load()`` reloads a saved one); None otherwise.
    :param box_actions: the agent acts in a Box: wrap the env in ``agents.continuous.BoxRelaxation`` first.
    :param action_spaces: the action spaces the agent can act in (checked before building).
    """

    build: Callable[..., Any]
    learns: bool
    defaults: dict[str, Any] = field(default_factory=dict)
    algorithm: type[BaseAlgorithm] | None = None
    box_actions: bool = False
    action_spaces: tuple[type[spaces.Space], ...] = (spaces.Discrete, spaces.MultiDiscrete)


def _sb3_builder(algorithm: type[BaseAlgorithm]) -> Callable[..., BaseAlgorithm]:
    """A ``build(env, seed, k, hyperparams)`` for an SB3 algorithm (``k`` is unused)."""

    def build(env: gym.Env, seed: int, k: int, hyperparams: dict[str, Any]) -> BaseAlgorithm:
        params = {key: schedule(value) for key, value in hyperparams.items()}
        policy = params.pop("policy", "MlpPolicy")
        try:
            layout_kwargs = split_policy_kwargs(env)
        except AttributeError:  # not a FreqMixUp env: SB3's default extractor
            layout_kwargs = {}
        policy_kwargs = {**layout_kwargs, **(params.pop("policy_kwargs", None) or {})}
        noise_std = params.pop(NOISE_STD_KEY, None)
        if noise_std is not None:
            dims = env.action_space.shape[0]
            params["action_noise"] = NormalActionNoise(mean=[0.0] * dims, sigma=[float(noise_std)] * dims)
        try:
            return algorithm(policy, env, seed=seed, device="cpu", policy_kwargs=policy_kwargs, **params)
        except TypeError as exc:  # a policy_kwargs key or a value of the wrong type, found by the constructors
            raise FreqmixError(f"bad hyperparameters for {algorithm.__name__}: {exc}") from exc

    return build


def _fixed(env: gym.Env, seed: int, k: int, hyperparams: dict[str, Any]) -> FixedK:
    agent = FixedK(k, env.get_wrapper_attr("codec"))
    agent.set_env(env, seed)
    return agent


def _random(env: gym.Env, seed: int, k: int, hyperparams: dict[str, Any]) -> RandomK:
    agent = RandomK(env.get_wrapper_attr("codec"), seed=seed)
    agent.set_env(env, seed)
    return agent


def _schedule(name: str) -> Callable[..., KSchedule]:
    def build(env: gym.Env, seed: int, k: int, hyperparams: dict[str, Any]) -> KSchedule:
        agent = KSchedule(name, env.get_wrapper_attr("codec"))
        agent.set_env(env, seed)
        return agent

    return build


AGENTS: Registry[AgentSpec] = Registry("agent", "--agent")
AGENTS.register("fixed", AgentSpec(_fixed, learns=False))
AGENTS.register("random", AgentSpec(_random, learns=False))
for _name in SCHEDULES.names():
    AGENTS.register(_name, AgentSpec(_schedule(_name), learns=False))


def register_sb3(name: str, algorithm: type[BaseAlgorithm], box_actions: bool = False,
                 action_spaces: tuple[type[spaces.Space], ...] = (spaces.Discrete, spaces.MultiDiscrete)) -> None:
    """Register an SB3 algorithm under ``name``; its hyperparameters come from ``<HYPERPARAMS_DIR>/<name>.yml``.

    :param name: the agent name (``freqmix train --agent NAME``) and YAML file stem.
    :param algorithm: the SB3 algorithm class.
    :param box_actions: it acts in a Box (SAC, TD3): the env is relaxed by ``BoxRelaxation``.
    :param action_spaces: the discrete action spaces it can choose in (before any relaxation).
    """
    AGENTS.register(name, AgentSpec(_sb3_builder(algorithm), learns=True, algorithm=algorithm,
                                    box_actions=box_actions, action_spaces=action_spaces))


register_sb3("reinforce", REINFORCE)
register_sb3("ppo", PPO)
register_sb3("a2c", A2C)
register_sb3("dqn", DQN, action_spaces=(spaces.Discrete,))
register_sb3("sac", SAC, box_actions=True)
register_sb3("td3", TD3, box_actions=True)


def agent_spec(name: str) -> AgentSpec:
    """The registered spec of ``name``, or of the saved policy ``name`` when it is a path ending in ``.zip``
    (``DIR/agent.zip`` of a ``freqmix train`` run: it acts without learning); ``UnknownNameError`` listing the
    choices if unknown."""
    if is_saved_policy(name):
        algorithms = {n: spec.algorithm for n, spec in AGENTS.items() if spec.algorithm is not None}
        return AgentSpec(saved_policy_builder(name, algorithms), learns=False)
    return AGENTS.get(name)


def resolve_hyperparams(name: str, env_id: str, overrides: dict[str, Any] | None = None,
                        folder: Path = HYPERPARAMS_DIR) -> dict[str, Any]:
    """The hyperparameters agent ``name`` gets on ``env_id``: its YAML entry (or spec defaults) updated by
    ``overrides``; ValueError on a key the agent does not take.

    :param name: a registered agent.
    :param env_id: the env id keying the YAML file (``FreqMixUp-v0``, ``FreqMixUpRecipe-v0``).
    :param overrides: values that replace the file's.
    :param folder: where the YAML files are.
    """
    spec = agent_spec(name)
    overrides = overrides or {}
    if spec.algorithm is None:
        unknown = set(overrides) - set(spec.defaults)
        if unknown:
            raise FreqmixError(f"unknown hyperparameter {sorted(unknown)[0]!r} for agent {name!r}; it takes "
                               f"{', '.join(spec.defaults) or 'none'}")
        return {**spec.defaults, **overrides}
    merged = {**load_hyperparams(name, env_id, folder), **overrides}
    check_hyperparams(spec.algorithm, merged, extra=(NOISE_STD_KEY,) if spec.box_actions else ())
    return merged


def build_agent(name: str, env: gym.Env, seed: int, k: int = 2, hyperparams: dict[str, Any] | None = None,
                env_id: str | None = None) -> Any:
    """Build agent ``name`` on ``env`` with its own ``seed``; ``k`` is used by ``fixed``.

    :param env: the env it acts in, already wrapped in ``BoxRelaxation`` when the spec's ``box_actions``.
    :param hyperparams: overrides of the YAML hyperparameters (learning agents) or of the spec defaults.
    :param env_id: the YAML key; default ``env.spec.id`` (set by ``gymnasium.make``).
    """
    spec = agent_spec(name)
    discrete = env.unwrapped.action_space if spec.box_actions else env.action_space
    if not isinstance(discrete, spec.action_spaces):
        kinds = ", ".join(space.__name__ for space in spec.action_spaces)
        raise FreqmixError(f"agent {name!r} acts in {kinds} action spaces, not {discrete}; pick another agent or env")
    if spec.box_actions and not isinstance(env.action_space, spaces.Box):
        raise FreqmixError(f"agent {name!r} acts in a Box: wrap the env in agents.continuous.BoxRelaxation first")
    if spec.algorithm is None:
        return spec.build(env, seed, k, resolve_hyperparams(name, "", hyperparams))
    env_id = env_id or (env.spec.id if env.spec is not None else None)
    if env_id is None:
        raise FreqmixError(f"agent {name!r} reads its hyperparameters by env id: pass env_id (e.g. 'FreqMixUp-v0')")
    return spec.build(env, seed, k, resolve_hyperparams(name, env_id, hyperparams))


def build_configured(config: AgentConfig, env: gym.Env, seed: int) -> Any:
    """The agent ``config`` describes, on ``env`` with its own ``seed`` (see :func:`build_agent`)."""
    return build_agent(config.name, env, seed=seed, k=config.k, hyperparams=config.hyperparams, env_id=config.env_id)


def load_agent(name: str, path: str | Path, env: gym.Env | None = None) -> BaseAlgorithm:
    """Reload a learning agent saved by ``freqmix train`` (``DIR/agent.zip``) onto the CPU.

    :param name: the registered agent it was built as.
    :param path: the ``.zip`` file.
    :param env: an env to continue training in (None: predict only).
    """
    spec = agent_spec(name)
    if spec.algorithm is None:
        raise FreqmixError(f"agent {name!r} does not learn, so it has nothing saved to load")
    return spec.algorithm.load(path, env=env, device="cpu")
