"""freqmix: the command line (``freqmix``) and its library entry points.

``from freqmix import load_run`` loads a finished ``freqmix train`` run (its recognizer and masking transform,
ready to embed faces). It is imported on first use, so that ``freqmix --help`` does not import torch.
``freqmix.FreqmixError`` is the base class of every user error, whichever package raises it.
"""
from __future__ import annotations

from typing import Any

from freqmix_base.errors import FreqmixError

__all__ = ["load_run", "TrainedRun", "FreqmixError"]
_LAZY = ("load_run", "TrainedRun")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from freqmix.experiment import trained_run

        return getattr(trained_run, name)
    raise AttributeError(f"module 'freqmix' has no attribute {name!r}")
