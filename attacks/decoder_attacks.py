"""The decoder attacks as registered attacks (:mod:`attacks.registry`): a white-box decoder trained under the truth
and a black-box one trained under the attacker's recovered belief, both on every public face the attacker holds
(``setting.public_faces``) with the auxiliary identities' mean face as the fill for dropped channels."""
from __future__ import annotations

from attacks.attack import AttackSetting, belief_key
from attacks.decoder import DecoderAttack, train_decoder
from attacks.progress import SECONDS_PER_DECODER_STEP
from attacks.protection import Protection, white_box
from freqmix_base.seeds import sub_seed

# Widths and batch at which SECONDS_PER_DECODER_STEP was measured; a step's cost grows with width² × batch.
_MEASURED_WIDTH, _MEASURED_BATCH = 64, 16


def _decoder(setting: AttackSetting, belief: Protection, purpose: str, desc: str) -> DecoderAttack:
    budget, faces = setting.budget, setting.public_faces
    return train_decoder(belief, faces.images, faces.labels, steps=budget.decoder_steps,
                         seed=sub_seed(setting.seed, purpose), batch_size=budget.decoder_batch,
                         widths=budget.decoder_widths, fill_faces=setting.auxiliary.images,
                         progress=setting.progress, desc=desc, device=setting.device)


def decoder_white_box(setting: AttackSetting) -> DecoderAttack:
    """The decoder trained under the defender's true pipeline."""
    return _decoder(setting, white_box(setting.truth), "decoder-white", "decoder white-box")


def decoder_black_box(setting: AttackSetting) -> DecoderAttack:
    """The decoder trained under the black-box belief; trained once for every defense and seed that share it."""
    key = ("decoder", belief_key(setting.belief))
    if key not in setting.shared:
        setting.shared[key] = _decoder(setting, setting.belief, "decoder-black", "decoder black-box")
    return setting.shared[key]


def decoder_seconds(setting: AttackSetting) -> float:
    """Expected seconds of training one decoder under ``setting.budget``."""
    budget = setting.budget
    scale = (budget.decoder_widths[0] / _MEASURED_WIDTH) ** 2 * budget.decoder_batch / _MEASURED_BATCH
    return SECONDS_PER_DECODER_STEP * budget.decoder_steps * scale


def decoder_black_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds of the black-box decoder: nothing when a decoder under the same belief is shared."""
    return 0.0 if ("decoder", belief_key(setting.belief)) in setting.shared else decoder_seconds(setting)
