"""Process plumbing of multi-process training under ``torch.distributed``: joining the process group that
``torchrun`` describes in its environment variables, spawning N local processes that form one, and sending small
Python objects from rank 0 to every rank.

The recognizer step itself is DistributedDataParallel inside :class:`recognizer.trainer.Recognizer`
(``data_parallel=True``); this module only starts, names and ends the processes. Backends: gloo on the CPU, NCCL on
CUDA (one GPU per process, ``cuda:LOCAL_RANK``).
"""
from __future__ import annotations

import atexit
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from freqmix_base.errors import FreqmixError

__all__ = ["ProcessGroup", "torchrun_world_size", "join_process_group", "leave_process_group", "spawn",
           "check_world"]


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the group: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that runs the agent and writes every file."""
        return self.rank == 0

    def broadcast(self, obj: Any = None) -> Any:
        """Rank 0's ``obj`` on every rank (picklable objects; the other ranks' argument is ignored)."""
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def torchrun_world_size() -> int:
    """``WORLD_SIZE`` as torchrun (or :func:`spawn`) sets it; 1 outside a launcher."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise FreqmixError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None


def check_world(world_size: int, device: str, batch_size: int) -> None:
    """FreqmixError, before any process starts, when ``world_size`` processes cannot share the run: a global batch
    that does not split evenly, or more CUDA processes than GPUs."""
    if world_size < 1:
        raise FreqmixError(f"--nproc must be >= 1, not {world_size}")
    if batch_size % world_size:
        raise FreqmixError(f"--batch-size {batch_size} is the global batch; it must split evenly over {world_size} "
                           f"processes")
    if world_size > 1 and device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise FreqmixError(f"device {device!r} is not available on this machine; use cpu (gloo) for --nproc")
        if world_size > torch.cuda.device_count():
            raise FreqmixError(f"{world_size} CUDA processes need {world_size} GPUs; this machine has "
                               f"{torch.cuda.device_count()}")


def join_process_group(device: str) -> ProcessGroup | None:
    """Join the group torchrun/:func:`spawn` describe (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
    ``MASTER_PORT``), or None when this process runs alone. NCCL for a CUDA ``device`` (this process then uses
    ``cuda:LOCAL_RANK``), gloo otherwise."""
    world = torchrun_world_size()
    if world <= 1:
        return None
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
        atexit.register(leave_process_group)
    return ProcessGroup(rank, world, local_rank)


def leave_process_group() -> None:
    """Destroy the default process group, if any (a process's last collective call)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawned(local_rank: int, world_size: int, port: int, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    os.environ.update(RANK=str(local_rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    target(*args)


def spawn(target: Callable[..., None], nprocs: int, args: tuple[Any, ...] = ()) -> None:
    """Run ``target(*args)`` in ``nprocs`` new local processes that form one group (as ``torchrun --standalone
    --nproc-per-node nprocs`` would); returns when all have finished. ``target`` must be a module-level function
    (the processes are spawned, not forked), and it joins the group with :func:`join_process_group`."""
    mp.spawn(_spawned, args=(nprocs, _free_port(), target, args), nprocs=nprocs, join=True)
