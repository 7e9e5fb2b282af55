"""Which agent chooses the recipes: :class:`AgentConfig`, without torch or Stable-Baselines3 (the command line reads
it before any command runs; :func:`agents.build.build_configured` builds the agent)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.registry import chooser_defaults
from freqmix_base.fields import option


@dataclass(frozen=True)
class AgentConfig:
    """Which agent chooses the recipes, and how it is set up. In a run's flat options (``--agent``, ``--env``,
    ``--hp``) its fields are named ``agent``, ``env`` and ``hyperparams``.

    :param name: a registered agent (``agents.registry.AGENTS``), or a policy saved by a run (``DIR/agent.zip``).
    :param hyperparams: overrides of the agent's hyperparameters: a learning agent's YAML ones, or the ones a chooser
        declares (the fixed agent's ``k``, which ``--k`` sets; the other choosers take none).
    :param env_id: the env id keying the YAML file.
    """

    name: str = option("fixed", flat="agent")
    hyperparams: dict[str, Any] = option(default_factory=dict, flat="hyperparams")
    env_id: str = option("FreqMixUp-v0", flat="env")

    def fixed_k(self) -> int | None:
        """The k of the fixed agent (its hyperparameter, or its registered default); None for any other agent."""
        return {**chooser_defaults("fixed"), **self.hyperparams}["k"] if self.name == "fixed" else None
