"""The keywords of :class:`mixup_env.env.FreqMixUpEnv` (so of ``gymnasium.make``): an unknown one, or one that would
do nothing, or a combination that cannot run, is refused in one line before anything is built."""
from __future__ import annotations

import difflib
from typing import Any

from freqmix_base.errors import FreqmixError
from freqmix_base.fields import UnknownFieldError, UnusedOptionError, flat_names, refuse_unused
from mixup_env.env_config import EnvConfig
from mixup_env.frequency import FrequencyTransform
from mixup_env.masking import FrequencyMixUp
from mixup_env.recipe import Recipe
from mixup_env.rewards import build_reward
from mixup_env.spaces import ACTION_FIELDS
from recognizer.augment import check_shift_step
from recognizer.faces import FaceDataset
from recognizer.streaming import StreamedTrainingSet


def refuse_unknown_options(config: EnvConfig, options: dict[str, Any], constructor_names: frozenset[str]) -> None:
    """UnknownFieldError naming every keyword ``FreqMixUpEnv`` (so ``gymnasium.make``) takes, with the closest to
    the first unknown one: the constructor's own (``constructor_names``) and the configuration's flat field names."""
    accepted = constructor_names | flat_names(config)
    unknown = [name for name in options if name not in accepted]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(accepted), n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise UnknownFieldError(f"unknown option {unknown[0]!r} for FreqMixUpEnv{hint}; it takes "
                                f"{', '.join(sorted(accepted))}")


def refuse_unused_options(config: EnvConfig, options: dict[str, Any], spec_options: list[str],
                          attack_given: bool) -> None:
    """UnusedOptionError for a keyword the env would ignore: what its action chooses for every batch (k always, the
    recipe action's fields too), a field whose ``needs`` the others do not meet (``n_high`` without
    ``channels="high"``), ``image_size``/``data_seed`` beside a dataset (they size and split a data spec), a
    leakage attack that the reward never asks for."""
    chosen = [name for name in ACTION_FIELDS[config.action] if name in options]
    if config.default_recipe.k != Recipe().k and "k" not in options:  # a whole configuration that sets it
        chosen.append(f"default_recipe.k={config.default_recipe.k}")
    if chosen:
        raise UnusedOptionError(f"{chosen[0]} does nothing: the {config.action} action chooses it for every batch "
                                "(step(action)); drop it (a constant k: k_choices=(K,), or agents.baselines.FixedK)")
    refuse_unused(config, options)
    if spec_options:
        raise UnusedOptionError(f"{spec_options[0]} does nothing when data is a dataset (it sizes and splits "
                                "a data spec such as a folder path); drop it")
    if attack_given and not build_reward(config.objective).needs_leakage:
        raise UnusedOptionError(f"leakage_attack does nothing: the {config.objective.reward} reward with privacy "
                                f"{config.objective.privacy!r} scores no leakage; drop it")


def refuse_unnamed_faces(config: EnvConfig, follows_exposure: bool, streamed: bool) -> None:
    """FreqmixError where the run must name each training face and cannot: ``exposure="worst"`` follows each face,
    ``drop_secret`` draws each face's channels from the secret key (which it then needs)."""
    if follows_exposure and streamed:
        raise FreqmixError('exposure="worst" follows each training face, which a streamed set does not name; '
                           'use exposure="batch" or load the faces in memory')
    if config.default_recipe.drop_secret:
        if config.transform.key is None:
            raise FreqmixError("drop_secret draws each face's dropped channels from the secret key: set key= "
                               "(--key), or drop drop_secret")
        if streamed:
            raise FreqmixError("drop_secret draws each training face's own channels, and a streamed set does not "
                               "name its faces; load the faces in memory")


def refuse_bad_augmentation(config: EnvConfig) -> None:
    """FreqmixError for a random translation that cannot be drawn: ``augment_shift`` outside [0, 0.5) of the side, or
    an ``augment_step`` that is not a whole number of pixels >= 1."""
    if not 0 <= config.augment_shift < 0.5:
        raise FreqmixError(f"augment_shift must be a fraction of the image side in [0, 0.5), not "
                           f"{config.augment_shift}")
    check_shift_step(config.augment_step)


def pooled_mixup(config: EnvConfig, pool: FaceDataset | None, transform: FrequencyTransform,
                 train: FaceDataset | StreamedTrainingSet) -> FrequencyMixUp:
    """The env's MixUp operator over the identities of ``train``, with the public pool's (M, C, h, w) frequency
    tensors under ``transform`` where the recipe draws its partners from a pool (``partners="pool"``); FreqmixError
    for pool partners without a pool, or a pool that the recipe would ignore or whose faces are not the size and
    colour of the training faces."""
    wanted = config.default_recipe.partners == "pool"
    if wanted != (pool is not None):
        raise FreqmixError("partners='pool' mixes each face with public faces: pass pool= (freqmix: "
                           "--private-fraction, whose attacker identities are the pool)" if wanted else
                           "pool= is used only by a recipe whose partners come from it: set partners='pool'")
    if pool is None:
        return FrequencyMixUp(train.num_identities)
    if (pool.image_channels, pool.image_size) != (train.image_channels, train.image_size):
        raise FreqmixError(f"the pool's faces are {pool.image_size} px with {pool.image_channels} plane(s), the "
                           f"training faces {train.image_size} px with {train.image_channels}")
    return FrequencyMixUp(train.num_identities, transform(pool.images.float()))
