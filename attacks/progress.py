"""One overall progress line for a privacy evaluation: which stage runs, how much of the whole is done, elapsed
time and ETA. Stages are weighted by their expected cost (each attack's ``seconds`` and :func:`judging_seconds`),
so the ETA is in seconds, not in stages of very different length. Each stage's measured wall time is kept
(``StageProgress.seconds``), so that a report can say where the time went."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from attacks.budget import AttackBudget
from freqmix_base.progress_bar import progress_bar

# Rough seconds per unit of work on one CPU thread at 112×112 (estimates, not a benchmark); only their ratios shape
# the ETA, since tqdm rescales by the pace actually observed.
SECONDS_PER_CGAN_STEP = 0.25
SECONDS_PER_DECODER_STEP = 0.6  # widths (24, 48, 96, 192, 384), batch 16: ORL 1,200 steps in ~760 s
SECONDS_PER_PRIOR_STEP = 0.12
SECONDS_PER_INVERSION_STEP = 0.03
SECONDS_PER_EVALUATOR_STEP = 0.02
SECONDS_PER_JUDGED_FACE = 0.05


def kit_costs(budget: AttackBudget, gallery_faces: int) -> dict[str, float]:
    """Expected seconds of each stage of preparing an attacker kit (judges, generator prior)."""
    return {"pretrained judge": SECONDS_PER_JUDGED_FACE * gallery_faces,
            "second-opinion judge": SECONDS_PER_EVALUATOR_STEP * budget.evaluator_steps,
            "generator prior": SECONDS_PER_PRIOR_STEP * budget.prior_steps}


def judging_seconds(private_faces: int, reconstructions: int, exposures: int, inversions: int,
                    inversion_attacks: int) -> float:
    """Expected seconds of judging one defense's attack outputs: every private face once per reconstruction attack
    and per exposure E, every inverted image once per inversion attack."""
    return SECONDS_PER_JUDGED_FACE * (private_faces * (reconstructions + exposures) + inversion_attacks * inversions)


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
