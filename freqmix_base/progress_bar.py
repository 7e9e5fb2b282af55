"""Progress for a terminal and for a log: a tqdm bar when stderr is a terminal, plain lines otherwise.

Piped into a file (CI, ``nohup``, a job scheduler), a tqdm bar writes either nothing for minutes or kilobytes of
carriage returns and cursor movements. Off a terminal, :func:`progress_bar` gives a :class:`PlainProgress`
instead: the same counting, printed as one plain line (stage, done/total, rate, elapsed, ETA) at most every
``FREQMIX_PROGRESS_SECONDS`` (default :data:`PLAIN_LINE_SECONDS`) and at least that often while the bar is open,
even when the work between updates is long. This module imports nothing of the project.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from tqdm import tqdm

PLAIN_LINE_SECONDS = 15.0
_HEARTBEAT_SECONDS = 1.0  # how often the line's thread looks at the clock


def progress_bar(*args: Any, **kwargs: Any) -> tqdm:
    """A ``tqdm(*args, **kwargs)`` on a terminal; a :class:`PlainProgress` with the same arguments elsewhere."""
    return (tqdm if sys.stderr.isatty() else PlainProgress)(*args, **kwargs)


class PlainProgress(tqdm):
    """A tqdm whose display is a plain line (no ``\\r``, no escape codes) every ``interval`` seconds, printed from a
    daemon thread too, so that a slow stage still shows it is alive; one last line at :meth:`close`.

    :param interval: seconds between lines (default ``$FREQMIX_PROGRESS_SECONDS`` or :data:`PLAIN_LINE_SECONDS`).
    """

    def __init__(self, *args: Any, interval: float | None = None, **kwargs: Any) -> None:
        self.interval = float(os.environ.get("FREQMIX_PROGRESS_SECONDS", PLAIN_LINE_SECONDS)
                              if interval is None else interval)
        self._last_line = -float("inf")
        self._closed = threading.Event()
        kwargs.update(mininterval=self.interval, miniters=1, dynamic_ncols=False)
        kwargs.setdefault("file", sys.stderr)
        super().__init__(*args, **kwargs)
        if not self.disable:
            threading.Thread(target=self._heartbeat, daemon=True).start()

    def display(self, msg: str | None = None, pos: int | None = None) -> None:
        """Print the plain line if ``interval`` has passed since the last one (``msg`` and ``pos`` are tqdm's
        terminal layout, which a log has no use for)."""
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self.fp.write(self.plain_line() + "\n")
            self.fp.flush()

    def clear(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to erase: lines are never overwritten."""

    def close(self) -> None:
        """Print the final line and stop the line's thread."""
        if self.disable:
            return
        self._closed.set()
        self._last_line = -float("inf")
        with self._lock:
            self.display()
        self.disable = True
        self._decr_instances(self)

    def plain_line(self) -> str:
        """``desc: n/total unit (p%), rate unit/s, elapsed, ETA`` (parts that are unknown left out); a line whose unit
        is ``%`` says ``p% done`` alone."""
        d = self.format_dict
        n, total, elapsed, unit = d["n"], d["total"], d["elapsed"], d["unit"]
        if unit == "%":  # a share of the whole, not a count of things: no count and no rate of its own
            parts = [f"{100 * n / total:.0f}% done"]
        else:
            parts = [f"{n:g}/{total:g} {unit} ({100 * n / total:.0f}%)" if total else f"{n:g} {unit}"]
        rate = (n - d["initial"]) / elapsed if elapsed > 0 else 0.0
        if rate > 0 and unit != "%":
            parts.append(f"{rate:.3g} {unit}/s")
        parts.append(f"elapsed {self.format_interval(elapsed)}")
        if total and rate > 0:
            parts.append(f"ETA {self.format_interval((total - n) / rate)}")
        postfix = f" [{d['postfix']}]" if d.get("postfix") else ""
        desc = (d["prefix"] or "progress").removesuffix(": ")  # set_description() appends ": " for the bar
        return f"{desc}: {', '.join(parts)}{postfix}"

    def _heartbeat(self) -> None:
        while not self._closed.wait(_HEARTBEAT_SECONDS):
            with self._lock:
                if not self._closed.is_set():
                    self.display()
