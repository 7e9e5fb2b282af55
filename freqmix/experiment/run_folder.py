"""What an output folder already holds, so that no command loses work: a new run refuses a non-empty folder unless
told to replace it, a finished run is recognised, and an interrupted one says how to continue.

``--overwrite`` removes only the files freqmix writes (:data:`RUN_FILES` for a train run, the command's own
outputs for ``compare``/``ablate``); anything else in the folder (notes, other data) stays.
"""
from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Iterable
from pathlib import Path

from freqmix_base.errors import FreqmixError

# Everything ``freqmix train`` (and ``freqmix evaluate`` in a run folder) writes; glob patterns.
RUN_FILES = ("config.json", "steps.csv", "recognizer.pt", "agent.zip", "agent_logs", "tensorboard", "metrics.json",
             "checkpoint.pt", "privacy.json", "privacy.png", "privacy.npz", "privacy_*.json", "privacy_*.png",
             "privacy_*.npz")
_LISTED = 3  # entries named in the refusal
THREADS_KEY = "torch_threads"  # config.json's record of the torch threads a run trained with


class OutputExistsError(FreqmixError):
    """An output folder that already holds files a command would overwrite or mix with its own."""


def claim_output_folder(out: Path, overwrite: bool, outputs: Iterable[str] = RUN_FILES) -> None:
    """Check that a new run may write into ``out``, before anything is written: it must not exist, be empty, or
    ``overwrite`` must be set, in which case the ``outputs`` (glob patterns) there are removed first.

    :raises OutputExistsError: ``out`` is a file, or a non-empty folder and ``overwrite`` is False.
    """
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} is a file, not a folder; pass a folder")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return
    if not overwrite:
        shown = ", ".join(entries[:_LISTED]) + (f" and {len(entries) - _LISTED} more" if len(entries) > _LISTED else "")
        raise OutputExistsError(f"output folder {out} is not empty ({shown}); pass --overwrite to replace its freqmix "
                                "results, another --out, or (train) --resume DIR to continue a checkpointed run")
    for pattern in outputs:
        for path in out.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def _json_int(path: Path, key: str) -> int | None:
    """Field ``key`` of the JSON file ``path`` as an int; None if there is no such file; ValueError if it holds
    no such field."""
    if not path.is_file():
        return None
    try:
        return int(json.loads(path.read_text())[key])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} has no integer {key!r}") from None


def finished_steps(out: Path) -> int | None:
    """The recognizer steps of the finished run in ``out`` (its ``metrics.json``), or None if it has not finished."""
    try:
        return _json_int(out / "metrics.json", "steps")
    except ValueError:
        raise FreqmixError(f"{out / 'metrics.json'} is not a freqmix metrics file; move it away to resume the "
                           "run") from None


def planned_steps(out: Path) -> int | None:
    """The recognizer steps the run in ``out`` was planned for (``resolved_steps`` of its ``config.json``)."""
    try:
        return _json_int(out / "config.json", "resolved_steps")
    except ValueError:
        return None


def recorded_threads(config_file: Path) -> int | None:
    """The torch threads the run whose ``config.json`` is ``config_file`` trained with (None: not recorded, as in
    runs of older versions, or no such file)."""
    try:
        return _json_int(config_file, THREADS_KEY)
    except ValueError:
        return None


def interruption_note(out: Path) -> str:
    """One line for a run in ``out`` stopped by Ctrl-C: whether a checkpoint exists, and the command that resumes
    from it (or how to make the next run resumable)."""
    from freqmix.experiment.checkpoint import CHECKPOINT_NAME, load_checkpoint

    path = out / CHECKPOINT_NAME
    try:
        done = int(load_checkpoint(path)["steps_done"]) if path.is_file() else None
    except FreqmixError:
        done = None
    if done is None:
        return (f"no checkpoint in {out}, so the run cannot be resumed; rerun with --overwrite, and with "
                "--save-every N to make it resumable")
    return f"the checkpoint in {out} covers step {done}; resume with: freqmix train --resume {shlex.quote(str(out))}"
