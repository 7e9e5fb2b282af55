"""The one base class of user errors: bad input, bad options, unusable files.

Every layer (``recognizer``, ``mixup_env``, ``agents``, ``attacks``) raises a subclass of :class:`FreqmixError` for
what the user can fix; the ``freqmix`` command catches this class only and prints its first line. Anything else is
a bug and shows its traceback. It lives in the base layer, which imports no project code.
"""
from __future__ import annotations


class FreqmixError(ValueError):
    """A user error whose message says what to change. A ``ValueError`` too, so callers that catch
    ``ValueError`` around library calls keep working."""


class CheckpointError(FreqmixError):
    """A checkpoint (a recognizer's or a run's) is unreadable, not ours, or from another configuration."""
