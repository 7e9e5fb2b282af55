"""The defender's start of a run (``--pretrain-on``): a backbone trained on public faces through the run's own mask,
augmentation and seed, unmixed or (``--pretrain-k K``) mixed K at a time with the run's mixing weights
(:func:`recognizer.pretrain.pretrain_backbone`); docs/utility.md measures it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from freqmix.experiment.config import TrainConfig
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform
from mixup_env.masking import FrequencyMixUp
from recognizer.augment import shift_pixels
from recognizer.data import load_dataset
from recognizer.faces import FaceDataset
from recognizer.pretrain import Mix, pretrain_backbone


def load_public_faces(config: TrainConfig, private_channels: int) -> FaceDataset:
    """The public faces of ``config.task.pretrain_on``, read in the colour of the private faces (``private_channels``
    image planes: 1 gray, 3 colour), so that both pass the same mask."""
    if config.task.pretrain_epochs <= 0:
        raise FreqmixError(f"--pretrain-epochs must be > 0, not {config.task.pretrain_epochs}")
    if not 1 <= config.task.pretrain_k <= config.training.batch_size:
        raise FreqmixError(f"--pretrain-k must be 1 to the batch size ({config.training.batch_size}), not "
                           f"{config.task.pretrain_k}")
    return load_dataset(config.task.pretrain_on, image_size=config.task.image_size,
                        color="rgb" if private_channels == 3 else "gray", seed=config.seed)


def pretrained_backbone(config: TrainConfig, public: FaceDataset, progress: bool = False) -> dict[str, torch.Tensor]:
    """The backbone of a recognizer trained on the ``public`` faces for ``config.task.pretrain_epochs`` epochs through
    the run's own mask, augmentation and epoch order, mixed ``config.task.pretrain_k`` at a time, seeded by the
    run's seed."""
    transform = FrequencyTransform.from_config(public.image_channels, config.transform)
    batch_size = min(config.training.batch_size, len(public))
    steps = max(1, round(config.task.pretrain_epochs * (len(public) // batch_size)))
    return pretrain_backbone(public, transform, config.recognizer, steps, batch_size,
                             max_shift=shift_pixels(config.training.augment_shift, config.task.image_size),
                             seed=config.seed, progress=progress, mix=_public_mix(config, public.num_identities),
                             sampler=config.training.sampler)


def _public_mix(config: TrainConfig, num_identities: int) -> Mix | None:
    """The run's mixing (weights, sign flips, drops, noise) at ``--pretrain-k`` public faces, or None at 1."""
    if config.task.pretrain_k == 1:
        return None
    recipe, mixup = replace(config.recipe, k=config.task.pretrain_k), FrequencyMixUp(num_identities)

    def mix(x: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        mixed = mixup(recipe, x, labels, rng)
        return mixed.x, mixed.soft_labels
    return mix
