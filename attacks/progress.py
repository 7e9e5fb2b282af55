"""One overall progress line for a privacy evaluation: which stage runs, how much of the whole is done, elapsed
time and ETA. Stages are weighted by their expected cost (:mod:`attacks.cost_model`: each attack's ``seconds`` and
``judging_seconds``), so the ETA is in seconds, not in stages of very different length. Each stage's measured wall
time is kept (``StageProgress.seconds``), so that a report can say where the time went."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from freqmix_base.progress_bar import progress_bar

class StageProgress:
    """A tqdm line over the expected seconds of every stage; ``with progress.stage(name):`` runs one.

    :param total: expected seconds of all stages together.
    :param enabled: False prints nothing.
    :param desc: what the whole is (``"evaluate"``, ``"compare"``).
    :ivar seconds: measured wall seconds of every stage run so far, by name (a name run twice adds up).
    """

    def __init__(self, total: float, enabled: bool = True, desc: str = "evaluate") -> None:
        self.desc = desc
        self.seconds: dict[str, float] = {}
        self.bar = progress_bar(total=round(total, 1), disable=not enabled, unit="s", desc=desc,
                        bar_format="{desc} {percentage:3.0f}%|{bar:20}| {elapsed} elapsed, ETA {remaining}")

    @contextmanager
    def stage(self, name: str, seconds: float) -> Iterator[None]:
        """Show ``name`` while the block runs, then count its expected ``seconds`` as done."""
        self.bar.set_description_str(f"{self.desc} [{name}]")
        started = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        self.bar.update(round(seconds, 1))

    def close(self) -> None:
        """End the line."""
        self.bar.close()
