"""What a recognizer is: :class:`RecognizerConfig`, without torch (the command line reads its fields and their
flags before any command runs; :mod:`recognizer.trainer` builds it)."""
from __future__ import annotations

from dataclasses import dataclass

from freqmix_base.fields import option

# Arithmetic of the training forward pass: fp32, or autocast to bfloat16 / float16 (float16 with a gradient scaler).
PRECISIONS = ("fp32", "bf16", "fp16")
# The names of recognizer.input_norm.INPUT_NORMS, stated here so that choosing one imports no torch (a test keeps
# the two equal).
INPUT_NORM_NAMES = ("rms", "none")


@dataclass(frozen=True)
class RecognizerConfig:
    """What a :class:`recognizer.trainer.Recognizer` is, apart from its data-given sizes (channels, identities) and
    its seed.

    :param backbone: name in ``recognizer.backbones.BACKBONES``.
    :param head: name in ``recognizer.heads.HEADS``.
    :param embedding_dim: embedding size ``D``.
    :param input_norm: what the backbone does to each input first (``recognizer.input_norm.INPUT_NORMS``).
    :param lr: base SGD learning rate (the cosine schedule's peak).
    :param device: where it trains (``"cpu"``, ``"cuda"``, ...).
    :param precision: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` autocast of the training forward pass (fp16: CUDA only).
    :param channels_last: keep the backbone's weights and inputs in channels-last memory format (faster CUDA
        convolutions with tensor cores).
    :param data_parallel: one process of a DistributedDataParallel recognizer (needs an initialised process group).
    """

    backbone: str = option("small", "small | iresnet18 | iresnet50")
    head: str = option("arcface", "arcface | cosface | softmax")
    embedding_dim: int = option(128, "embedding size")
    input_norm: str = option("rms", "what the recognizer does to each input first: rms (divide it by its own RMS, so "
                                    "that mixes and clean faces arrive at one scale) or none", choices=INPUT_NORM_NAMES)
    lr: float = option(0.1, "recognizer SGD learning rate (cosine schedule)")
    device: str = option("cpu", "recognizer device (cpu, cuda); agents stay on the CPU")
    precision: str = option("fp32", "recognizer arithmetic: fp32, or bf16/fp16 autocast (fp16: CUDA only)",
                            choices=PRECISIONS)
    channels_last: bool = option(False, "channels-last memory format for the recognizer (for CUDA convolutions)")
    data_parallel: bool = False
