"""``Recognizer``: one object that owns backbone, head and optimizer and trains on soft labels.

The env drives it one ``train_step`` at a time, so the step is kept as lean as a hand-written loop: forward,
backward, one finiteness check, optimizer step. Built with ``data_parallel=True`` inside a ``torch.distributed``
process group it is one replica of a DistributedDataParallel recognizer: every process passes the same global
batch and trains on its own contiguous shard of it, gradients averaged across processes by DDP.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from freqmix_base.atomic import save_atomically
from freqmix_base.errors import CheckpointError, FreqmixError
from recognizer.backbones import build_backbone
from recognizer.config import PRECISIONS, RecognizerConfig
from recognizer.heads import build_head

__all__ = ["CheckpointError", "Recognizer"]

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

_FORMAT = "freqmix.recognizer/1"
# Config keys a state must share with the Recognizer that loads it (the seed only drew the initial
# weights, which the state replaces).
_MATCH_KEYS = ("in_channels", "num_classes", "backbone", "head", "embedding_dim", "input_norm", "lr", "momentum",
               "weight_decay", "total_steps")
# States saved before the input normalisation existed fed their inputs to the BN stem as they came.
_INPUT_NORM_BEFORE = "none"


class _LossModule(nn.Module):
    """Backbone and head as one module whose forward is the training loss (what DDP wraps).

    :param autocast: dtype of the backbone's autocast, or None for fp32. The margin head always runs in fp32 on
        fp32 embeddings, as insightface's Partial FC does: its logits are scaled by ``s`` = 64, far beyond what
        bf16's 8-bit mantissa resolves.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, autocast: torch.dtype | None) -> None:
        super().__init__()
        self.backbone, self.head, self.autocast = backbone, head, autocast

    def forward(self, x: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
        if self.autocast is None:
            return self.head(self.backbone(x), soft_labels)
        with torch.autocast(x.device.type, self.autocast):
            embeddings = self.backbone(x)
        return self.head(embeddings.float(), soft_labels)


def _check_optimizer(lr: float, momentum: float, weight_decay: float, total_steps: int | None) -> None:
    """FreqmixError for SGD settings or a schedule length the recognizer cannot train with."""
    if not (0 < lr < math.inf and 0 <= momentum < math.inf and 0 <= weight_decay < math.inf):
        raise FreqmixError(f"need a finite lr > 0, momentum >= 0, weight_decay >= 0; got {lr}, {momentum}, "
                           f"{weight_decay}")
    if total_steps is not None and total_steps < 1:
        raise FreqmixError(f"total_steps must be >= 1 or None, got {total_steps}")


def _available_device(device: str | torch.device) -> torch.device:
    """``torch.device(device)``, or a ValueError saying why it cannot be used here (unknown name, no such backend)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise FreqmixError(f"unknown device {device!r}; use cpu, cuda or cuda:N (any torch device type)") from None
    backend = getattr(torch, dev.type, None)
    if dev.type != "cpu" and not (hasattr(backend, "is_available") and backend.is_available()):
        raise FreqmixError(f"device {device!r} is not available on this machine (torch {torch.__version__}); "
                           "use cpu")
    return dev


def _checked_config(state: object) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != _FORMAT or not isinstance(state.get("config"), dict):
        raise CheckpointError("not a freqmix Recognizer checkpoint (missing or unknown 'format' or 'config')")
    return {"input_norm": _INPUT_NORM_BEFORE, **state["config"]}


class Recognizer:
    """Face recognizer on frequency tensors, trained with SGD on soft (MixUp) labels.

    :param in_channels: channels ``C`` of the inputs ``(N, C, h, w)``.
    :param num_classes: identities ``K`` of the soft labels ``(N, K)``.
    :param backbone: name in ``recognizer.backbones.BACKBONES``.
    :param head: name in ``recognizer.heads.HEADS``.
    :param embedding_dim: embedding size ``D``.
    :param input_norm: name in ``recognizer.input_norm.INPUT_NORMS`` (default: each input divided by its RMS).
    :param lr: base learning rate of SGD.
    :param momentum: SGD momentum.
    :param weight_decay: L2 penalty on every trainable parameter (backbone and head).
    :param device: where the modules live and train (``"cpu"``, ``"cuda"``, ...).
    :param seed: initial weights are drawn from this seed on the CPU, inside ``torch.random.fork_rng`` so
        the global torch RNG is left as it was, and are identical whatever the device.
    :param total_steps: when given, the learning rate follows a half cosine from ``lr`` at step 0 to 0 at
        ``total_steps`` (and stays 0 after); the rate is a function of ``step``, so there is no scheduler
        object to save.
    :param precision, channels_last, data_parallel: see :class:`RecognizerConfig`; inference (``embed``,
        ``logits``) always runs in fp32.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        backbone: str = "small",
        head: str = "arcface",
        embedding_dim: int = 128,
        input_norm: str = "rms",
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        device: str | torch.device = "cpu",
        seed: int = 0,
        total_steps: int | None = None,
        precision: str = "fp32",
        channels_last: bool = False,
        data_parallel: bool = False,
    ) -> None:
        _check_optimizer(lr, momentum, weight_decay, total_steps)
        self.config: dict[str, Any] = {
            "in_channels": int(in_channels), "num_classes": int(num_classes), "backbone": backbone,
            "head": head, "embedding_dim": int(embedding_dim), "input_norm": input_norm, "lr": float(lr),
            "momentum": float(momentum), "weight_decay": float(weight_decay), "seed": int(seed),
            "total_steps": None if total_steps is None else int(total_steps),
        }
        self.device = _available_device(device)
        if precision not in PRECISIONS:
            raise FreqmixError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if precision == "fp16" and self.device.type != "cuda":
            raise FreqmixError("fp16 autocast needs a CUDA device; use --precision bf16 on the CPU")
        if data_parallel and not dist.is_initialized():
            raise FreqmixError("data_parallel needs an initialised torch.distributed process group "
                               "(freqmix train --nproc N, or torchrun)")
        self._autocast = _AUTOCAST_DTYPES.get(precision)
        self._scaler = torch.amp.GradScaler(self.device.type) if precision == "fp16" else None
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.backbone = build_backbone(backbone, in_channels, embedding_dim, input_norm)
            self.head = build_head(head, embedding_dim, num_classes)
        self.backbone.to(self.device, memory_format=self._memory_format)
        self.head.to(self.device)
        self._training_module: nn.Module = _LossModule(self.backbone, self.head, self._autocast)
        # This process's rows of the global batch: (rank, world size); None when it trains alone.
        self._shard: tuple[int, int] | None = None
        if data_parallel:
            self._wrap_data_parallel()
        params = [p for m in (self.backbone, self.head) for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.step = 0
        # BN running statistics are buffers the optimizer never sees; a NaN batch would poison them for
        # good, so train_step restores them from this copy when the loss is not finite.
        self._buffers = [b for m in (self.backbone, self.head) for b in m.buffers()]
        self._buffer_backup = [b.detach().clone() for b in self._buffers]
        self._set_lr()

    def _wrap_data_parallel(self) -> None:
        """Train through DDP as one replica of the process group (this process's rows of the global batch)."""
        device_ids = [self.device.index if self.device.index is not None else torch.cuda.current_device()] \
            if self.device.type == "cuda" else None
        self._training_module = DistributedDataParallel(self._training_module, device_ids=device_ids)
        self._shard = (dist.get_rank(), dist.get_world_size())

    @classmethod
    def from_config(cls, in_channels: int, num_classes: int, config: RecognizerConfig, seed: int = 0,
                    total_steps: int | None = None) -> Recognizer:
        """A Recognizer for ``in_channels`` frequency channels and ``num_classes`` identities as ``config`` says."""
        return cls(in_channels, num_classes, seed=seed, total_steps=total_steps, **asdict(config))

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(rank, world size)`` of a data-parallel recognizer (it trains on rows ``rank·B/W .. (rank+1)·B/W`` of
        each global batch of ``B``); None when it trains alone."""
        return self._shard

    # -- training -------------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """Learning rate the next ``train_step`` uses."""
        return self.optimizer.param_groups[0]["lr"]

    def _set_lr(self) -> None:
        total = self.config["total_steps"]
        if total is None:
            return
        lr = 0.5 * self.config["lr"] * (1.0 + math.cos(math.pi * min(self.step, total) / total))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _train_mode(self, training: bool) -> None:
        if self.backbone.training != training:
            self._training_module.train(training)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True, memory_format=self._memory_format)

    def train_step(self, x: torch.Tensor, soft_labels: torch.Tensor) -> float:
        """One SGD step on ``x (N, C, h, w)`` with ``soft_labels (N, K)``; returns the batch loss.

        A data-parallel recognizer takes the global batch (``N`` divisible by the world size), trains on its shard
        and returns the mean loss over all processes' shards.

        A non-finite loss is returned without stepping: parameters, optimizer state, BN statistics and
        ``step`` stay as they were, and the caller decides what to do.
        """
        if self._shard is not None:
            rank, world = self._shard
            if len(x) % world:
                raise FreqmixError(f"a batch of {len(x)} does not split evenly over {world} processes")
            rows = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
            x, soft_labels = x[rows], soft_labels[rows]
        x = self._input(x)
        soft_labels = soft_labels.to(self.device, non_blocking=True)
        self._train_mode(True)
        torch._foreach_copy_(self._buffer_backup, self._buffers)
        loss = self._training_module(x, soft_labels)
        self.optimizer.zero_grad(set_to_none=True)
        # Queued before the .item() sync so a GPU keeps working.
        (self._scaler.scale(loss) if self._scaler else loss).backward()
        loss = loss.detach().float()
        if self._shard is not None:
            # Every process sees the same global loss, so all of them step or all skip a non-finite one.
            dist.all_reduce(loss)
            loss /= self._shard[1]
        value = loss.item()
        if not math.isfinite(value):
            torch._foreach_copy_(self._buffers, self._buffer_backup)
            return value
        if self._scaler:
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        self._set_lr()
        return value

    @torch.no_grad()
    def loss(self, x: torch.Tensor, soft_labels: torch.Tensor) -> float:
        """Loss on a batch in eval mode (running BN statistics), without gradients or state changes."""
        self._train_mode(False)
        x, soft_labels = self._input(x), soft_labels.to(self.device)
        return self.head(self.backbone(x), soft_labels).item()

    # -- inference ------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """``(N, C, h, w) -> (N, D)`` L2-normalised embeddings on the CPU, in eval mode."""
        self._train_mode(False)
        out = [self.backbone(self._input(x[i:i + batch_size])).float().cpu() for i in range(0, len(x), batch_size)]
        if not out:
            return torch.empty(0, self.config["embedding_dim"])
        return F.normalize(torch.cat(out), dim=1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, h, w) -> (N, K)`` margin-free identity logits on the recognizer's device, in eval mode
        (running BN statistics). Differentiable, so that attacks (model inversion) can follow gradients to ``x``;
        wrap in ``torch.no_grad()`` when none are needed."""
        self._train_mode(False)
        return self.head.logits(self.backbone(self._input(x)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """``(N, C, h, w) -> (N,)`` int64 class index: argmax of the head's margin-free logits (CPU)."""
        out = [self.logits(x[i:i + batch_size]).argmax(1).cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)

    # -- state ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: config, module weights, optimizer state and step."""
        return {
            "format": _FORMAT,
            "config": dict(self.config),
            "backbone": self.backbone.state_dict(),
            "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            **({"grad_scaler": self._scaler.state_dict()} if self._scaler else {}),
        }

    def load_state_dict(self, state: dict[str, Any], reschedule: bool = False) -> None:
        """Restore a ``state_dict()``; raises ``CheckpointError`` for a state of another configuration.

        :param reschedule: accept a state saved under another ``total_steps`` and continue on this Recognizer's
            cosine schedule (extending a run's budget stretches the schedule from the saved step on).
        """
        config = _checked_config(state)
        keys = [k for k in _MATCH_KEYS if not (reschedule and k == "total_steps")]
        diff = [f"{k}={config.get(k)!r} (expected {self.config[k]!r})" for k in keys if config.get(k) != self.config[k]]
        if diff:
            raise CheckpointError("checkpoint is from another configuration: " + ", ".join(diff))
        try:
            self.backbone.load_state_dict(state["backbone"])
            self.head.load_state_dict(state["head"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            if self._scaler and "grad_scaler" in state:
                self._scaler.load_state_dict(state["grad_scaler"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint does not fit this Recognizer: {str(exc).splitlines()[0]}") from exc
        self._set_lr()

    def load_backbone(self, state: dict[str, torch.Tensor]) -> None:
        """Start from another recognizer's backbone weights (``backbone.state_dict()``, e.g. pretrained on public
        faces); the head and the optimizer stay as they are. ``CheckpointError`` if the weights do not fit (another
        backbone, embedding size or number of input channels)."""
        try:
            self.backbone.load_state_dict(state)
        except (RuntimeError, TypeError) as exc:
            # torch's first line only names the module; the next one says what does not fit.
            detail = " ".join(line.strip() for line in str(exc).splitlines()[:2])
            raise CheckpointError(f"the initial backbone does not fit this Recognizer: {detail}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``state_dict()`` to ``path`` atomically (temp file in the same folder, then ``os.replace``)."""
        save_atomically(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Recognizer:
        """Rebuild a Recognizer from ``save(path)`` output on ``device``.

        Raises ``CheckpointError`` (a ``ValueError``) for a missing, truncated, corrupt or foreign file.
        """
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise CheckpointError(f"no checkpoint at {path}") from exc
        except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad bytes
            raise CheckpointError(f"cannot read checkpoint {path} (truncated or not a torch file): "
                                  f"{type(exc).__name__}") from exc
        config = _checked_config(state)
        device = _available_device(device)  # a bad device is the caller's error, not the file's
        try:
            rec = cls(**config, device=device)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path} holds an invalid configuration: {str(exc).splitlines()[0]}") from exc
        rec.load_state_dict(state)
        return rec
