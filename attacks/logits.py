"""The one place where the attacks read a recognizer's margin-free logits from frequency tensors.

Until ``Recognizer.logits(x)`` exists this reaches through to ``head.logits(backbone(x))``; then it becomes
``return recognizer.logits(frequency)``.
"""
from __future__ import annotations

import torch

from recognizer.trainer import Recognizer


def recognizer_logits(recognizer: Recognizer, frequency: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) frequency tensors -> (N, K) margin-free identity logits, on the recognizer's device."""
    return recognizer.logits(frequency.to(recognizer.device))
