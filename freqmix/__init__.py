"""freqmix: the command line (``freqmix``) and its library entry points.

``from freqmix import load_run`` loads a finished ``freqmix train`` run (its recognizer and masking transform,
ready to embed faces). It is imported on first use, so that importing ``freqmix.errors`` or running
``freqmix --help`` does not import torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["load_run", "TrainedRun"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from freqmix import trained_run

        return getattr(trained_run, name)
    raise AttributeError(f"module 'freqmix' has no attribute {name!r}")
