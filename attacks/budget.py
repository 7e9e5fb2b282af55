"""Compute budgets of a privacy evaluation: how long each defense's recognizer trains and how hard each attack
works. ``smoke`` checks that everything runs (whole ORL compare in minutes), ``frontier`` fits a many-defense,
3-seed comparison in about half an hour on one core, ``default`` gives the numbers worth reading on a 2-core CPU,
``full`` is for a machine with time to spare."""
from __future__ import annotations

from dataclasses import dataclass

from freqmix_base.registry import Registry


@dataclass(frozen=True)
class AttackBudget:
    """One budget.

    :param name: the budget's name.
    :param recognizer_epochs: epochs each defense's recognizer trains (``freqmix compare``).
    :param evaluator_steps: SGD steps of the independent evaluation recognizer.
    :param cgan_steps: generator/discriminator updates of each reconstruction CGAN.
    :param cgan_batch: faces per CGAN update.
    :param cgan_width: channels of the U-Net's first level and of the PatchGAN.
    :param prior_steps: updates of the generator prior (model inversion (b)).
    :param inversion_steps: Adam steps of each model inversion.
    :param inversions_per_identity: inverted images per private identity (different random starts).
    :param decoder_steps: updates of each decoder (:mod:`attacks.decoder`).
    :param decoder_widths: the decoder U-Net's channels per level, finest first.
    :param decoder_batch: faces per decoder update.
    :param attacked_per_identity: private training faces per identity that are protected, reconstructed and judged
        (None: all); the judge's gallery keeps every face. Judging a face costs a dlib descriptor (~0.05 s), so this
        bounds the attacks' cost.
    """

    name: str
    recognizer_epochs: float
    evaluator_steps: int
    cgan_steps: int
    cgan_batch: int
    cgan_width: int
    prior_steps: int
    inversion_steps: int
    inversions_per_identity: int
    decoder_steps: int
    decoder_widths: tuple[int, ...]
    decoder_batch: int
    attacked_per_identity: int | None = None


BUDGETS: Registry[AttackBudget] = Registry("budget", "--budget")
for _budget in (
    AttackBudget("smoke", recognizer_epochs=20, evaluator_steps=100, cgan_steps=40, cgan_batch=16, cgan_width=16,
                 prior_steps=60, inversion_steps=40, inversions_per_identity=1, decoder_steps=30,
                 decoder_widths=(8, 16, 32), decoder_batch=16, attacked_per_identity=2),
    # Between the two, for experiments of many defenses × seeds on one core (freqmix frontier on ORL, 3 seeds):
    # recognizers trained as long as default's, smoke's attacks with a CGAN trained a quarter longer, on two
    # faces per private identity (judging every face of every defense dominated the cost: ~60% of it on ORL).
    AttackBudget("frontier", recognizer_epochs=200, evaluator_steps=100, cgan_steps=50, cgan_batch=16,
                 cgan_width=16, prior_steps=60, inversion_steps=40, inversions_per_identity=1, decoder_steps=200,
                 decoder_widths=(8, 16, 32, 64, 128), decoder_batch=16, attacked_per_identity=2),
    # 200 recognizer epochs: on ORL's private identities (hybrid mask, RMS input normalisation, 3 seeds) a recognizer
    # that trains only on mixes was still learning at 100: identification 0.88 -> 0.96 at k = 4 and 0.71 -> 0.94 at
    # k = 6 (docs/utility.md).
    AttackBudget("default", recognizer_epochs=200, evaluator_steps=300, cgan_steps=400, cgan_batch=16,
                 cgan_width=32, prior_steps=600, inversion_steps=300, inversions_per_identity=2,
                 # ORL ppfr k = 1, seed 0, one core (docs/privacy_metrics.md): these widths reach private SSIM 0.612
                 # at 800 steps (456 s) and 0.622 at 1,200 (762 s), 0.632 mirror-averaged; widths (16, ..., 256)
                 # 0.603 at 1,200 (427 s). A whole default evaluate took 587 s with --threads 2 (SSIM 0.631),
                 # 457 s with the U-Net in bfloat16 (SSIM 0.627).
                 decoder_steps=1200, decoder_widths=(24, 48, 96, 192, 384), decoder_batch=16),
    AttackBudget("full", recognizer_epochs=200, evaluator_steps=1000, cgan_steps=3000, cgan_batch=32, cgan_width=64,
                 prior_steps=4000, inversion_steps=500, inversions_per_identity=5, decoder_steps=3000,
                 decoder_widths=(32, 64, 128, 256, 512), decoder_batch=32),
):
    BUDGETS.register(_budget.name, _budget)


def get_budget(name: str) -> AttackBudget:
    """The budget called ``name``; an :class:`~freqmix.registry.UnknownNameError` listing the choices if unknown."""
    return BUDGETS.get(name)
