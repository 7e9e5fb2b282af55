"""``dct_over_copy``: our block DCT ÷ a tensor copy of the bytes it writes, on the same batch."""
from __future__ import annotations

import torch

from freqmix.benchmarks.timing import Ratio, interleaved, ratio
from mixup_env.frequency import FrequencyTransform

GOAL = "<= 5"
# Both sides take well under a millisecond: repeat each call within a round so the timer's resolution and the
# Python call overhead do not dominate.
CALLS_PER_ROUND = 20


def measure(images: torch.Tensor, rounds: int) -> Ratio:
    """Time ``FrequencyTransform`` on ``images`` (uint8 (N, C, H, W)) against ``clone()`` of its float32 output."""
    transform = FrequencyTransform(images.shape[1])
    coeffs = transform(images)
    timings = interleaved({"dct": lambda: transform(images), "copy": coeffs.clone}, rounds, CALLS_PER_ROUND)
    n, c, h, w = images.shape
    return ratio(timings, "dct", "copy", GOAL,
                 what=f"FrequencyTransform({c}) of {n} uint8 {c}x{h}x{w} images ÷ clone() of its float32 output "
                      f"({coeffs.numel() * 4 / 2**20:.1f} MiB)")
