"""The attack behind ``--privacy decoder-leakage``: a decoder (:mod:`attacks.decoder`) trained before the run on the
attacker's faces (the auxiliary identities of ``--private-fraction``), whose best-component SSIM on each separated
batch is the constrained reward's leakage (:mod:`mixup_env.leakage`).

The defender knows its own pipeline, so the decoder trains under the run's transform, key and recipe; the attacker
it stands for reads each row as it is and as the batch's separation gives it back (unmixed, k = 1), and the defender
does not know which k its agent will choose, so half its training batches are unmixed and half mix the env's k
choices alike. It works at the ``frontier`` budget's
decoder settings: it is scored on every training batch, so it has to be small and decodes each face once, not
mirror-averaged (``freqmix bench`` measures a step with it against a plain one), and a stronger decoder than this
stand-in is what ``freqmix evaluate`` runs after.
It is deterministic from the run's seed, so a resumed run trains the same one again.
"""
from __future__ import annotations

from dataclasses import replace

from attacks.budget import get_budget
from attacks.decoder import DecoderAttack, train_decoder
from attacks.protection import Protection
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.task import load_private_split
from freqmix_base.errors import FreqmixError
from freqmix_base.seeds import sub_seed
from mixup_env.frequency import FrequencyTransform
from mixup_env.rewards import TRAINED_LEAKAGE_TERMS

LEAKAGE_BUDGET = "frontier"


def needs_leakage_decoder(config: TrainConfig) -> bool:
    """Whether the run's reward scores leakage with a decoder trained before the run."""
    return config.objective.reward == "constrained" and config.objective.privacy in TRAINED_LEAKAGE_TERMS


def check_leakage_decoder(config: TrainConfig, processes: int = 1) -> None:
    """FreqmixError unless the run has attacker's faces to train the decoder on and runs in one process
    (``processes``: how many the run starts)."""
    if config.task.private_fraction is None or config.task.train_identities != "private":
        raise FreqmixError("--privacy decoder-leakage trains its decoder on the attacker's faces: it needs "
                           "--private-fraction and --train-identities private")
    if config.task.stream:
        raise FreqmixError("--privacy decoder-leakage needs the attacker's faces in memory; drop --stream")
    if processes > 1:
        # The reward is rank 0's, but every rank's env scores the leakage of its own steps.
        raise FreqmixError("--privacy decoder-leakage runs in one process: drop --nproc (or torchrun)")


def leakage_decoder(config: TrainConfig, progress: bool = False) -> DecoderAttack:
    """The decoder of ``config``'s ``decoder-leakage`` term, trained on its auxiliary identities (see the module
    docstring)."""
    check_leakage_decoder(config)
    auxiliary = load_private_split(config).auxiliary
    budget = get_budget(LEAKAGE_BUDGET)
    choices = config.agent.k_choices()
    k_probs = {k: 0.5 / len(choices) for k in choices}
    k_probs[1] = k_probs.get(1, 0.0) + 0.5
    # Pool partners are the auxiliary identities themselves (freqmix.experiment.task.public_pool).
    pool = auxiliary.images if config.recipe.partners == "pool" else None
    belief = Protection.of(FrequencyTransform.from_config(auxiliary.image_channels, config.transform), k_probs,
                           config.recipe, config.training.batch_size, pool=pool)
    decoder = train_decoder(belief, auxiliary.images, auxiliary.labels, steps=budget.decoder_steps,
                            seed=sub_seed(config.seed, "leakage-decoder"), batch_size=budget.decoder_batch,
                            widths=budget.decoder_widths, progress=progress, desc="leakage decoder",
                            device=config.recognizer.device)
    return replace(decoder, mirrored=False)
