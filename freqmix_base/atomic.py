"""Atomic writes of torch files: a process killed mid-save leaves the previous file intact."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_atomically(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to a temporary file in ``path``'s folder, flushed to disk, then ``os.replace``d onto
    ``path``; the temporary file is removed if anything fails on the way."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
