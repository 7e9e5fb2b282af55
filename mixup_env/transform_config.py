"""What the frequency transform keeps and how it hides it: :class:`TransformConfig`, without torch (the command
line reads its fields and their flags before any command runs; :mod:`mixup_env.frequency` applies it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

from freqmix_base.fields import option

DEFAULT_N_HIGH = 36
ChannelSelection = Union[str, Sequence[int]]
SELECTIONS = ("all", "no-dc", "high")


@dataclass(frozen=True)
class TransformConfig:
    """What the frequency transform keeps and how it hides it (image channels come from the data).

    :param channels: the channel selection (see :func:`mixup_env.frequency.select_channels`): a name or explicit
        indices.
    :param n_high: channels per plane kept by ``"high"``.
    :param key: integer key of the channel shuffle; ``None`` keeps the natural order.
    :param upsample: integer ×s upsampling before the DCT.
    """

    channels: ChannelSelection = option("all", "frequency channels kept", choices=SELECTIONS, type=str)
    n_high: int = option(DEFAULT_N_HIGH, "channels per plane kept by --channels high", needs=("channels", "high"))
    key: int | None = option(None, "secret key of the channel shuffle (default: none)")
    upsample: int = option(1, "×s upsampling before the DCT")
