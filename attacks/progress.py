"""One overall progress line for a privacy evaluation: which stage runs (stage 3 of 11: CGAN white-box), how much of
the whole is done, elapsed time and ETA; each attack that trains shows its own steps beside it. Stages are weighted
by their expected cost (:mod:`attacks.cost_model`: each attack's ``seconds`` and ``judging_seconds``) so that the
percentage and the ETA move with the work, not with the number of stages; the estimates themselves are never shown,
only their share. Each stage's measured wall time is kept (``StageProgress.seconds``), so that a report can say where
the time went."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from freqmix_base.progress_bar import progress_bar


class StageProgress:
    """A percentage line over the expected cost of every stage; ``with progress.stage(name, seconds):`` runs one.

    :param total: expected seconds of all stages together (only each stage's share of it is shown).
    :param enabled: False prints nothing.
    :param desc: what the whole is (``"evaluate"``, ``"attacker kit"``).
    :param stages: how many stages there are, to show "stage 3 of 11" (None: "stage 3").
    :ivar seconds: measured wall seconds of every stage run so far, by name (a name run twice adds up).
    """

    def __init__(self, total: float, enabled: bool = True, desc: str = "evaluate", stages: int | None = None) -> None:
        self.desc = desc
        self.total = total
        self.stages = stages
        self.started = 0
        self.seconds: dict[str, float] = {}
        self.bar = progress_bar(total=100, disable=not enabled, unit="%", desc=desc,
                                bar_format="{desc} {percentage:3.0f}%|{bar:20}| {elapsed} elapsed, ETA {remaining}")

    @contextmanager
    def stage(self, name: str, seconds: float) -> Iterator[None]:
        """Show ``name`` while the block runs, then count its share (``seconds`` of the total) as done."""
        self.started += 1
        of = f" of {self.stages}" if self.stages else ""
        self.bar.set_description_str(f"{self.desc} [stage {self.started}{of}: {name}]")
        started = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        self.bar.update(100 * seconds / self.total if self.total > 0 else 0)

    def close(self) -> None:
        """End the line."""
        self.bar.close()
