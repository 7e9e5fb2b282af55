"""The one checkpoint protocol of every agent: SB3's public ``get_parameters()`` / ``set_parameters()`` (the state
dicts of its networks and optimizers) plus the extra state the agent declares.

The choosers (``fixed``, ``random``, the schedules, saved policies) declare theirs with ``extra_state()`` /
``load_extra_state()``. SB3's on-policy algorithms (REINFORCE, PPO, A2C) cannot declare anything, and what
``get_parameters()`` leaves out — the counters and running statistics, and the observation and episode-start flags
that ``learn(reset_num_timesteps=False)`` continues from — has no public accessor in SB3 2.x (its own ``save()``
pickles them the same way), so this module is their adapter: the one place that names SB3 private attributes. An
on-policy algorithm with more such state adds its attribute names to :data:`ON_POLICY_SCALARS`. Off-policy
algorithms (DQN, SAC, TD3) would need their replay buffer and are refused.
"""
from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from freqmix_base.errors import CheckpointError

ON_POLICY_SCALARS = ("num_timesteps", "_n_updates", "_episode_num", "running_return")
ON_POLICY_ROLLOUT_START = ("_last_obs", "_last_episode_starts")


def require_checkpointable(agent: Any) -> None:
    """CheckpointError, in one line, unless :func:`agent_state` can capture ``agent`` exactly."""
    if not (hasattr(agent, "extra_state") or isinstance(agent, OnPolicyAlgorithm)):
        raise CheckpointError(f"{type(agent).__name__} agents cannot be checkpointed (their replay buffer is not "
                              "saved); use fixed, random, a schedule, a saved policy, reinforce, ppo or a2c with "
                              "--save-every/--stop-at/--resume")


def agent_state(agent: Any) -> dict[str, Any]:
    """The agent's state as plain types and tensors: its parameters (when it has any) and its extra state."""
    require_checkpointable(agent)
    parameters = agent.get_parameters()
    state: dict[str, Any] = {"parameters": parameters} if parameters else {}
    if hasattr(agent, "extra_state"):
        return {**state, **agent.extra_state()}
    return {**state, "scalars": {name: getattr(agent, name) for name in ON_POLICY_SCALARS if hasattr(agent, name)},
            **{name: torch.as_tensor(getattr(agent, name)) for name in ON_POLICY_ROLLOUT_START}}


def load_agent_state(agent: Any, state: dict[str, Any], steps_done: int) -> None:
    """Restore :func:`agent_state` into a freshly built agent of the same kind and configuration.

    :param steps_done: the steps the checkpoint covers (the step count of choosers saved by earlier versions).
    """
    try:
        parameters = state.get("parameters")
        if parameters is None and "policy" in state:  # checkpoints of earlier versions kept the two apart
            parameters = {"policy": state["policy"], "policy.optimizer": state["optimizer"]}
        if parameters:
            agent.set_parameters(parameters, exact_match=True)
        if hasattr(agent, "load_extra_state"):
            agent.load_extra_state(state, steps_done)
            return
        for name, value in state["scalars"].items():
            setattr(agent, name, value)
        for name, key in zip(ON_POLICY_ROLLOUT_START, ("last_obs", "last_episode_starts")):
            setattr(agent, name, state[name if name in state else key].numpy())
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"the checkpoint's agent state does not fit this agent: {str(exc).splitlines()[0]}") from None
