"""The independent evaluation recognizer that judges attacks: trained on the clean private training faces (all
frequency channels, no key, no mixing), with its own seed and flip/shift augmentation, so that it shares neither
data protection nor weights with the recognizer under attack."""
from __future__ import annotations

import torch

from attacks.augment import shift_flip
from freqmix_base.progress_bar import progress_bar
from mixup_env.frequency import FrequencyTransform
from recognizer.trainer import Recognizer

MAX_SHIFT = 6  # pixels; faces in identity folders are roughly aligned, not exactly


class Evaluator:
    """Judge of identity: logits and embeddings of clean face images.

    :param recognizer: a :class:`Recognizer` trained on clean, all-channel block-DCT faces.
    """

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        planes = recognizer.config["in_channels"] // 64
        self.transform = FrequencyTransform(planes)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, P, H, W) 0..255 -> (N, K) identity logits (margin-free), on the CPU."""
        self.recognizer.backbone.eval()
        self.recognizer.head.eval()
        out = [self.recognizer.logits(self.transform(chunk.float())).cpu() for chunk in images.split(256)]
        return torch.cat(out)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(N, P, H, W) 0..255 -> (N, D) L2-normalised embeddings."""
        return self.recognizer.embed(self.transform(images.float()))


def train_evaluator(images: torch.Tensor, labels: torch.Tensor, steps: int, seed: int, batch_size: int = 32,
                    progress: bool = True, device: str = "cpu") -> Evaluator:
    """Train the evaluator on clean faces (N, P, H, W) uint8 with identity ``labels`` (N,) for ``steps`` SGD steps
    (ArcFace, cosine learning rate), batches drawn with replacement from ``seed``, its network on ``device``."""
    num_classes = int(labels.max()) + 1
    # input_norm "none": the judge trains on clean faces only and is kept as its figures were measured.
    rec = Recognizer(images.shape[1] * 64, num_classes, input_norm="none", seed=seed, total_steps=steps,
                     device=device)
    evaluator = Evaluator(rec)
    gen = torch.Generator().manual_seed(seed)
    eye = torch.eye(num_classes)
    for _ in progress_bar(range(steps), desc="evaluator", unit="step", disable=not progress, leave=False):
        idx = torch.randint(len(images), (batch_size,), generator=gen)
        batch = shift_flip(images[idx].float(), MAX_SHIFT, gen)
        rec.train_step(evaluator.transform(batch), eye[labels[idx]])
    return evaluator
