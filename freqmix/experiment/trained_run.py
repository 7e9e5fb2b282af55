"""A finished ``freqmix train`` run, loaded back ready to embed faces: ``freqmix.load_run(DIR)``.

>>> run = load_run("runs/train")                  # doctest: +SKIP
>>> embeddings = run.embed(["a.jpg", "b.png"])    # files or uint8 arrays, resized as training did -> (N, D)
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from freqmix.experiment.config import TrainConfig
from freqmix_base.errors import CheckpointError, FreqmixError
from mixup_env.frequency import FrequencyTransform
from recognizer.image_files import read_faces
from recognizer.trainer import Recognizer

RUN_FILES_NEEDED = ("config.json", "metrics.json", "recognizer.pt")


@dataclass
class TrainedRun:
    """The recognizer of a run and the frequency transform it was trained behind.

    :param folder: the run folder.
    :param config: its ``config.json``.
    :param metrics: its ``metrics.json``.
    :param recognizer: the trained recognizer (``recognizer.pt``), on the device it was loaded to.
    :param transform: the run's masking transform (channels kept, shuffle key, upsampling): what the recognizer
        takes as input.
    """

    folder: Path
    config: TrainConfig
    metrics: dict[str, Any]
    recognizer: Recognizer
    transform: FrequencyTransform

    def embed(self, images: torch.Tensor | Sequence[str | os.PathLike[str] | np.ndarray],
              batch_size: int = 256) -> torch.Tensor:
        """Faces -> ``(N, D)`` L2-normalised float32 embeddings on the CPU, computed exactly as the run's own
        evaluation computed them (masked, unmixed).

        :param images: image files or ``uint8`` arrays (``(H, W)`` gray or ``(H, W, 3)`` RGB, any size), read,
            resized and converted to the run's channels as training read its data folder; or a tensor
            ``(N, C, H, W)`` already at ``H = W = config.task.image_size`` with the run's ``C``, pixel values 0..255.
        """
        size, channels = self.config.task.image_size, self.transform.image_channels
        if not isinstance(images, torch.Tensor):
            images = read_faces(images, size, channels)
        if images.ndim != 4 or images.shape[1] != channels or tuple(images.shape[2:]) != (size, size):
            raise FreqmixError(f"images of shape {tuple(images.shape)} do not fit this run: it takes (N, {channels}, "
                               f"{size}, {size}), pixel values 0..255")
        return self.recognizer.embed(self.transform(images), batch_size=batch_size)


def load_run(folder: str | os.PathLike[str], device: str = "cpu") -> TrainedRun:
    """Load the finished run in ``folder`` (``freqmix train --out folder``) onto ``device``.

    :raises FreqmixError: the folder or one of its files is missing, or the checkpoint does not match its config.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FreqmixError(f"run folder '{folder}' does not exist; pass the --out folder of a freqmix train run")
    for name in RUN_FILES_NEEDED:
        if not (folder / name).is_file():
            raise FreqmixError(f"run folder '{folder}' has no {name}; did its freqmix train finish?")
    config = TrainConfig.from_json((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    recognizer = Recognizer.load(folder / "recognizer.pt", device=device)
    return TrainedRun(folder, config, metrics, recognizer, transform_of(config, recognizer, folder))


def transform_of(config: TrainConfig, recognizer: Recognizer, folder: Path) -> FrequencyTransform:
    """The run's transform. ``config.json`` does not say whether the faces were gray or color; the recognizer's
    input channels do (one plane's channel count times 1 or 3)."""
    in_channels = recognizer.config["in_channels"]
    for planes in (1, 3):
        transform = FrequencyTransform.from_config(planes, config.transform)
        if transform.out_channels == in_channels:
            return transform
    raise CheckpointError(f"{folder / 'recognizer.pt'} takes {in_channels} channels, which the run's config "
                          f"(--channels {config.transform.channels}) makes from neither gray nor color faces; the "
                          "checkpoint does not match config.json")
