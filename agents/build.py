"""Building a registered agent on an env: its hyperparameters resolved and checked, then the agent itself.

Learning agents are Stable-Baselines3 algorithms (REINFORCE included) built with the hyperparameters of
``agents/hyperparams_yaml/<name>.yml`` for the env id, updated by the caller's overrides, on the CPU, seeded with
the run's seed, and — on envs that expose an ``ObservationLayout`` — with the split features extractor of
:mod:`agents.policies`. Choosers (fixed, random, the schedules) take only the hyperparameters their registry entry
declares (the fixed agent's ``k``). The names and entry points: :mod:`agents.registry`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise

from agents.config import AgentConfig
from agents.hyperparams import HYPERPARAMS_DIR, check_hyperparams, load_hyperparams, schedule
from agents.policies import split_policy_kwargs
from agents.registry import AGENTS, AgentEntry, chooser_defaults, is_saved_policy
from agents.saved import saved_policy_builder
from freqmix_base.errors import FreqmixError

# Not an SB3 argument: the standard deviation of TD3's Gaussian exploration noise (RL Zoo's ``noise_std``), in
# units of the [-1, 1] Box; SAC explores through its own entropy and does not take it.
NOISE_STD_KEY = "noise_std"


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent, imported: how to build it.

    :param entry: its registry entry.
    :param build: ``build(env, seed, hyperparams) -> agent`` with SB3's ``predict()`` (and ``learn()``).
    :param algorithm: the SB3 class of a learning agent (its ``load()`` reloads a saved one); None otherwise.
    """

    entry: AgentEntry
    build: Callable[..., Any]
    algorithm: type[BaseAlgorithm] | None = None


def _sb3_builder(algorithm: type[BaseAlgorithm]) -> Callable[..., BaseAlgorithm]:
    """A ``build(env, seed, hyperparams)`` for an SB3 algorithm."""

    def build(env: gym.Env, seed: int, hyperparams: dict[str, Any]) -> BaseAlgorithm:
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


def agent_spec(name: str) -> AgentSpec:
    """The spec of registered agent ``name`` (its entry point imported), or of the saved policy ``name`` when it is
    a path ending in ``.zip`` (``DIR/agent.zip`` of a ``freqmix train`` run: it acts without learning);
    ``UnknownNameError`` listing the choices if unknown."""
    if is_saved_policy(name):
        return AgentSpec(AgentEntry("agents.saved:SavedPolicy", learns=False),
                         saved_policy_builder(name, learning_algorithms()))
    entry = AGENTS.get(name)
    target = entry.load()
    if entry.learns:
        return AgentSpec(entry, _sb3_builder(target), algorithm=target)
    return AgentSpec(entry, lambda env, seed, hyperparams: target(env, seed, hyperparams, **entry.kwargs))


def learning_algorithms() -> dict[str, type[BaseAlgorithm]]:
    """Registered learning agent name -> its SB3 class."""
    return {name: entry.load() for name, entry in AGENTS.items() if entry.learns}


def resolve_hyperparams(name: str, env_id: str, overrides: dict[str, Any] | None = None,
                        folder: Path = HYPERPARAMS_DIR) -> dict[str, Any]:
    """The hyperparameters agent ``name`` gets on ``env_id``: its YAML entry (learning agents) or its declared
    defaults (choosers) updated by ``overrides``; FreqmixError on a key the agent does not take.

    :param name: a registered agent.
    :param env_id: the env id keying the YAML file (``FreqMixUp-v0``, ``FreqMixUpRecipe-v0``).
    :param overrides: values that replace the file's.
    :param folder: where the YAML files are.
    """
    spec = agent_spec(name)
    overrides = overrides or {}
    if spec.algorithm is None:
        defaults = chooser_defaults(name)
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise FreqmixError(f"unknown hyperparameter {sorted(unknown)[0]!r} for agent {name!r}; it takes "
                               f"{', '.join(defaults) or 'none'}")
        return {**defaults, **overrides}
    merged = {**load_hyperparams(name, env_id, folder), **overrides}
    check_hyperparams(spec.algorithm, merged, extra=(NOISE_STD_KEY,) if spec.entry.box_actions else ())
    return merged


def build_agent(name: str, env: gym.Env, seed: int, hyperparams: dict[str, Any] | None = None,
                env_id: str | None = None) -> Any:
    """Build agent ``name`` on ``env`` with its own ``seed``.

    :param env: the env it acts in, already wrapped in ``BoxRelaxation`` when the entry's ``box_actions``.
    :param hyperparams: overrides of the YAML hyperparameters (learning agents) or of a chooser's declared ones
        (``{"k": 4}`` for ``fixed``).
    :param env_id: the YAML key; default ``env.spec.id`` (set by ``gymnasium.make``).
    """
    spec = agent_spec(name)
    entry = spec.entry
    discrete = env.unwrapped.action_space if entry.box_actions else env.action_space
    if not isinstance(discrete, entry.action_spaces):
        kinds = ", ".join(space.__name__ for space in entry.action_spaces)
        raise FreqmixError(f"agent {name!r} acts in {kinds} action spaces, not {discrete}; pick another agent or env")
    if entry.box_actions and not isinstance(env.action_space, spaces.Box):
        raise FreqmixError(f"agent {name!r} acts in a Box: wrap the env in agents.continuous.BoxRelaxation first")
    if spec.algorithm is None:
        return spec.build(env, seed, resolve_hyperparams(name, "", hyperparams))
    env_id = env_id or (env.spec.id if env.spec is not None else None)
    if env_id is None:
        raise FreqmixError(f"agent {name!r} reads its hyperparameters by env id: pass env_id (e.g. 'FreqMixUp-v0')")
    return spec.build(env, seed, resolve_hyperparams(name, env_id, hyperparams))


def build_configured(config: AgentConfig, env: gym.Env, seed: int) -> Any:
    """The agent ``config`` describes, on ``env`` with its own ``seed`` (see :func:`build_agent`)."""
    return build_agent(config.name, env, seed=seed, hyperparams=config.hyperparams, env_id=config.env_id)


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
