"""The decoder attacks as registered attacks (:mod:`attacks.registry`): a white-box decoder trained under the truth
and a black-box one trained under the attacker's recovered belief, both on every public face the attacker holds
(``setting.public_faces``) with the auxiliary identities' mean face as the fill for dropped channels.

A decoder depends on the belief it is trained under, not on who holds it: one decoder is trained per belief and
shared (``setting.shared``) by every defense whose attacker holds that belief, and by the black-box attacker whose
recovered belief is the truth: it then *is* the white-box attacker, at no further cost."""
from __future__ import annotations

from attacks.attack import AttackSetting, fitted_once, seconds_once
from attacks.cost_model import SECONDS_PER_DECODER_STEP
from attacks.decoder import DecoderAttack, train_decoder
from attacks.protection import Protection, white_box
from freqmix_base.seeds import sub_seed
from mixup_env.analytic_inverse import AnalyticInverse

# The U-Net at which SECONDS_PER_DECODER_STEP was measured. Each level halves the grid and doubles the width, so
# every level costs about the same: a step's cost grows with (first width)² × levels × batch.
_MEASURED_WIDTH, _MEASURED_LEVELS, _MEASURED_BATCH = 24, 5, 16


def fit_decoder(setting: AttackSetting, belief: Protection, desc: str) -> DecoderAttack | AnalyticInverse:
    """The decoder trained under ``belief`` (once per belief, shared through ``setting.shared``); under a belief
    whose pipeline inverts exactly (``none``), the analytic inverse itself, which no training can improve on."""
    budget, faces = setting.budget, setting.public_faces
    if belief.invertible:
        return fitted_once(setting, "exact inverse", belief,
                           lambda held: AnalyticInverse.fit(held.transform, faces.images))
    return fitted_once(setting, "decoder", belief, lambda held: train_decoder(
        held, faces.images, faces.labels, steps=budget.decoder_steps, seed=sub_seed(setting.seed, "decoder"),
        batch_size=budget.decoder_batch, widths=budget.decoder_widths, fill_faces=setting.auxiliary.images,
        progress=setting.progress, desc=desc, device=setting.device))


def decoder_white_box(setting: AttackSetting) -> DecoderAttack:
    """The decoder trained under the defender's true pipeline."""
    return fit_decoder(setting, white_box(setting.truth), "decoder white-box")


def decoder_black_box(setting: AttackSetting) -> DecoderAttack:
    """The decoder trained under the black-box belief."""
    return fit_decoder(setting, setting.belief, "decoder black-box")


def decoder_seconds(setting: AttackSetting) -> float:
    """Expected seconds of training one decoder under the setting's budget."""
    budget = setting.budget
    widths = budget.decoder_widths
    scale = ((widths[0] / _MEASURED_WIDTH) ** 2 * len(widths) / _MEASURED_LEVELS
             * budget.decoder_batch / _MEASURED_BATCH)
    return SECONDS_PER_DECODER_STEP * budget.decoder_steps * scale


def decoder_white_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds of the white-box decoder (nothing when one under the truth is shared or it inverts
    exactly)."""
    truth = white_box(setting.truth)
    return 0.0 if truth.invertible else seconds_once(setting, "decoder", truth, decoder_seconds(setting))


def decoder_black_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds of the black-box decoder (nothing when its belief is the truth, whose decoder runs first,
    or it inverts exactly)."""
    if setting.belief.invertible:
        return 0.0
    return seconds_once(setting, "decoder", setting.belief, decoder_seconds(setting), before=(setting.truth,))
