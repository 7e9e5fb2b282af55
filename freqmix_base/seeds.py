"""Seeds derived from the one run seed, so that one ``--seed`` reaches every generator."""
from __future__ import annotations

import zlib

import numpy as np


def sub_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose, derived from the one run seed (independent streams for independent draws)."""
    return int(np.random.default_rng([seed, zlib.crc32(purpose.encode())]).integers(2**31))
