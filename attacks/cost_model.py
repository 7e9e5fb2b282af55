"""What each stage of a privacy evaluation is expected to cost, in seconds: the weights of its progress line
(:class:`attacks.progress.StageProgress`), so that its ETA is in seconds, not in stages of very different length,
and the ``seconds`` each registered attack announces (:mod:`attacks.registry`)."""
from __future__ import annotations

from attacks.budget import AttackBudget

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
