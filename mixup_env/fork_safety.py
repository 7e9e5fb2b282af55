"""Envs built in forked workers (``gymnasium.make_vec(..., vectorization_mode="async")``, SB3's ``SubprocVecEnv``
with ``start_method="fork"``) and torch's OpenMP thread pool.

GNU OpenMP's pool does not survive ``fork()``: once the parent has run a parallel torch op (Gymnasium's async
vector env builds a dummy env in the parent to read the spaces, which already does), a forked child that enters a
parallel region waits forever for pool threads that were not copied. A forked child cannot tell whether its parent
used the pool, so an env built in a forked child runs torch on one thread (as torch's own DataLoader workers do);
workers started with ``spawn`` or ``forkserver`` are fresh processes and keep torch's default.
"""
from __future__ import annotations

import os

import torch

_in_forked_child = False


def _mark_forked_child() -> None:
    global _in_forked_child
    _in_forked_child = True


os.register_at_fork(after_in_child=_mark_forked_child)


def use_fork_safe_threads() -> None:
    """In a process forked after this module was imported, make torch run on one thread (see the module's
    docstring); elsewhere leave torch's thread count alone."""
    if _in_forked_child and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
