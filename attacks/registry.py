"""The attacks every privacy evaluation runs, one registration each, in the order they run and are reported
(ties between equally strong attacks go to the first).

Adding an attack: write its file (a ``fit(setting) -> Reconstructor`` or ``fit(setting) -> images``, see
:mod:`attacks.attack`) and register it here with one ``ATTACKS.register`` line; ``freqmix evaluate``, ``compare``
and ``frontier`` then report it, and the summaries take it into the strongest attack of its family.
"""
from __future__ import annotations

import torch

from attacks.attack import Attack, AttackSetting, fitted_once, no_seconds, seconds_once
from attacks.decoder_attacks import (decoder_black_box, decoder_black_box_seconds, decoder_white_box,
                                     decoder_white_box_seconds)
from attacks.inversion import TargetModel, invert_gmi, invert_tv
from attacks.cost_model import SECONDS_PER_CGAN_STEP, SECONDS_PER_INVERSION_STEP
from attacks.protection import Protection, white_box
from attacks.pool_regression import pool_white_box, pool_white_box_seconds
from attacks.reconstruction import ReconstructionAttack, train_reconstruction
from attacks.unmixing import (unmix_black_box, unmix_black_box_seconds, unmix_pooled, unmix_white_box,
                              unmix_white_box_seconds)
from freqmix_base.registry import Registry
from freqmix_base.seeds import sub_seed
from mixup_env.analytic_inverse import AnalyticInverse


def _analytic_white_box(setting: AttackSetting) -> AnalyticInverse:
    return AnalyticInverse.fit(white_box(setting.truth).transform, setting.auxiliary.images)


def _analytic_black_box(setting: AttackSetting) -> AnalyticInverse:
    return AnalyticInverse.fit(setting.belief.transform, setting.auxiliary.images)


def _cgan(setting: AttackSetting, belief: Protection, desc: str) -> ReconstructionAttack:
    budget, aux = setting.budget, setting.auxiliary
    return fitted_once(setting, "cgan", belief, lambda held: train_reconstruction(
        held, aux.images, aux.labels, steps=budget.cgan_steps, seed=sub_seed(setting.seed, "cgan"),
        batch_size=budget.cgan_batch, width=budget.cgan_width, progress=setting.progress, desc=desc,
        device=setting.device))


def _cgan_white_box(setting: AttackSetting) -> ReconstructionAttack:
    return _cgan(setting, white_box(setting.truth), "CGAN white-box")


def _cgan_black_box(setting: AttackSetting) -> ReconstructionAttack:
    return _cgan(setting, setting.belief, "CGAN black-box")


def _cgan_seconds(setting: AttackSetting) -> float:
    return SECONDS_PER_CGAN_STEP * setting.budget.cgan_steps


def _cgan_white_box_seconds(setting: AttackSetting) -> float:
    return seconds_once(setting, "cgan", white_box(setting.truth), _cgan_seconds(setting))


def _cgan_black_box_seconds(setting: AttackSetting) -> float:
    return seconds_once(setting, "cgan", setting.belief, _cgan_seconds(setting), before=(setting.truth,))


def _tv_prior(setting: AttackSetting) -> torch.Tensor:
    target = TargetModel(setting.recognizer, setting.truth.transform)
    return invert_tv(target, setting.identities, setting.auxiliary.images.float().mean(dim=0),
                     setting.budget.inversion_steps, sub_seed(setting.seed, "inversion-tv"), progress=setting.progress)


def _generator_prior(setting: AttackSetting) -> torch.Tensor:
    target = TargetModel(setting.recognizer, setting.truth.transform)
    return invert_gmi(target, setting.prior, setting.identities, setting.budget.inversion_steps,
                      sub_seed(setting.seed, "inversion-gmi"), progress=setting.progress)


def _inversion_seconds(setting: AttackSetting) -> float:
    return SECONDS_PER_INVERSION_STEP * setting.budget.inversion_steps * len(setting.identities) / 20


ATTACKS: Registry[Attack] = Registry("attack")
ATTACKS.register("analytic_white_box", Attack("reconstruction", "white-box analytic inverse", _analytic_white_box,
                                              no_seconds))
ATTACKS.register("analytic_black_box", Attack("reconstruction", "black-box analytic inverse", _analytic_black_box,
                                              no_seconds, black_box=True, in_samples=False))
ATTACKS.register("cgan_white_box", Attack("reconstruction", "white-box CGAN", _cgan_white_box,
                                          _cgan_white_box_seconds, stage="CGAN white-box"))
ATTACKS.register("cgan_black_box", Attack("reconstruction", "black-box CGAN", _cgan_black_box,
                                          _cgan_black_box_seconds, black_box=True, stage="CGAN black-box"))
ATTACKS.register("decoder_white_box", Attack("reconstruction", "white-box decoder", decoder_white_box,
                                             decoder_white_box_seconds))
ATTACKS.register("decoder_black_box", Attack("reconstruction", "black-box decoder", decoder_black_box,
                                             decoder_black_box_seconds, black_box=True))
ATTACKS.register("unmix_white_box", Attack("reconstruction", "white-box batch unmixing + decoder", unmix_white_box,
                                           unmix_white_box_seconds))
ATTACKS.register("unmix_black_box", Attack("reconstruction", "black-box batch unmixing + decoder", unmix_black_box,
                                           unmix_black_box_seconds, black_box=True))
ATTACKS.register("unmix_pooled", Attack("reconstruction", "white-box unmixing of the pooled epoch + decoder",
                                        unmix_pooled, unmix_white_box_seconds, in_samples=False))
ATTACKS.register("pool_white_box", Attack("reconstruction", "white-box pool regression + decoder", pool_white_box,
                                          pool_white_box_seconds, in_samples=False))
ATTACKS.register("tv_prior", Attack("inversion", "inversion, TV prior", _tv_prior, _inversion_seconds))
ATTACKS.register("generator_prior", Attack("inversion", "inversion, generator prior", _generator_prior,
                                           _inversion_seconds))
