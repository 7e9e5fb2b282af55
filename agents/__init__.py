"""Who chooses the recipe: the paper's REINFORCE strategy network, SB3 algorithms, and fixed/random baselines.

``from agents import REINFORCE``; names -> agents in :mod:`agents.registry`; policy parts for FreqMixUp
observations in :mod:`agents.policies`; the Box relaxation for SAC/TD3 in :mod:`agents.continuous`.
"""
from agents.reinforce import REINFORCE

__all__ = ["REINFORCE"]
