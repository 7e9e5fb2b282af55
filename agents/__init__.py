"""Who chooses the recipe: the paper's REINFORCE strategy network, SB3 algorithms, and fixed/random baselines.

``from agents import REINFORCE``; names -> agents in :mod:`agents.registry`; policy parts for FreqMixUp
observations in :mod:`agents.policies`; the Box relaxation for SAC/TD3 in :mod:`agents.continuous`. REINFORCE is
imported on first use, so that ``agents.config`` (read by the command line's help) imports no torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["REINFORCE"]


def __getattr__(name: str) -> Any:
    if name == "REINFORCE":
        from agents.reinforce import REINFORCE

        return REINFORCE
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
