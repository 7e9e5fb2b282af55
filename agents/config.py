"""Which agent chooses the recipes: :class:`AgentConfig`, without torch or Stable-Baselines3 (the command line reads
it before any command runs; :func:`agents.build.build_configured` builds the agent)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.registry import chooser_defaults
from freqmix_base.fields import option
from mixup_env.spaces import PAPER_K_CHOICES


@dataclass(frozen=True)
class AgentConfig:
    """Which agent chooses the recipes, and how it is set up. In a run's flat options (``--agent``, ``--env``,
    ``--hp``) its fields are named ``agent``, ``env`` and ``hyperparams``.

    :param name: a registered agent (``agents.registry.AGENTS``), or a policy saved by a run (``DIR/agent.zip``).
    :param hyperparams: overrides of the agent's hyperparameters: a learning agent's YAML ones, or the ones a chooser
        declares (the fixed agent's ``k``, which ``--k`` sets; the other choosers take none).
    :param env_id: the env id keying the YAML file.
    :param k_min: the smallest k the agent may choose (1: no mixing among its choices); the largest is the paper's.
    """

    name: str = option("fixed", flat="agent")
    hyperparams: dict[str, Any] = option(default_factory=dict, flat="hyperparams")
    env_id: str = option("FreqMixUp-v0", flat="env")
    k_min: int = option(PAPER_K_CHOICES[0], "the smallest k the agent chooses among (1: not mixing is a choice)",
                        choices=range(1, PAPER_K_CHOICES[-1] + 1))

    def k_choices(self) -> tuple[int, ...]:
        """The k the agent chooses among: ``k_min`` up to the paper's largest, plus the fixed agent's k when it lies
        outside them."""
        fixed = self.fixed_k()
        ranged = set(range(self.k_min, PAPER_K_CHOICES[-1] + 1))
        return tuple(sorted(ranged | ({fixed} if fixed is not None else set())))

    def fixed_k(self) -> int | None:
        """The k of the fixed agent (its hyperparameter, or its registered default); None for any other agent."""
        return {**chooser_defaults("fixed"), **self.hyperparams}["k"] if self.name == "fixed" else None
