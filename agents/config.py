"""Which agent chooses the recipes: :class:`AgentConfig`, without torch or Stable-Baselines3 (the command line reads
it before any command runs; :func:`agents.registry.build_configured` builds the agent)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freqmix_base.fields import option

# The names agents.registry.AGENTS registers, stated here so that the command line's help imports no torch (a test
# keeps the two equal).
AGENT_NAMES = ("fixed", "random", "linear", "step", "cosine", "reinforce", "ppo", "a2c", "dqn", "sac", "td3")


@dataclass(frozen=True)
class AgentConfig:
    """Which agent chooses the recipes, and how it is set up. In a run's flat options (``--agent``, ``--k``,
    ``--env``, ``--hp``) its fields are named ``agent``, ``k``, ``env`` and ``hyperparams``.

    :param name: a registered agent (``AGENTS``), or a policy saved by a run (``DIR/agent.zip``).
    :param k: the fixed agent's k.
    :param hyperparams: overrides of the YAML hyperparameters (learning agents) or of the spec defaults.
    :param env_id: the env id keying the YAML file.
    """

    name: str = option("fixed", flat="agent")
    k: int = option(2, flat="k")
    hyperparams: dict[str, Any] = option(default_factory=dict, flat="hyperparams")
    env_id: str = option("FreqMixUp-v0", flat="env")
