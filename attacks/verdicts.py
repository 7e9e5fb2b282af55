"""The judge's verdict on each pictured attack output: does the pretrained judge name the private identity the
picture's column shows? A figure says how often; the picture shows which faces."""
from __future__ import annotations

import numpy as np
import torch

from attacks.judge import PretrainedJudge
from attacks.registry import ATTACKS


def sample_verdicts(judge: PretrainedJudge, samples: dict[str, torch.Tensor], target_labels: torch.Tensor,
                    identity_labels: torch.Tensor) -> dict[str, np.ndarray]:
    """For each attack row of a sample figure (:func:`attacks.privacy.attack_recognizer`'s samples), a bool per
    column: the judge names that column's identity.

    :param samples: row name -> (S, P, H, W) 0..255 images; the rows that are no attack (the private faces and
        identities themselves) get no verdict.
    :param target_labels: (S,) identities of the private training faces a reconstruction row is lined up with.
    :param identity_labels: (S,) the private identities an inversion row is lined up with.
    """
    verdicts = {}
    for name, images in samples.items():
        if name not in ATTACKS.names():
            continue
        labels = target_labels if ATTACKS.get(name).family == "reconstruction" else identity_labels
        shown = min(len(images), len(labels))
        verdicts[name] = (judge.logits(images[:shown]).argmax(dim=1) == labels[:shown]).numpy()
    return verdicts
