"""Shared test helpers: the real face data in ../shared/data, and tiny image folders built in tmp_path."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

# One torch thread everywhere: the tests' tensors are tiny (thread hand-offs cost more than they save), the suite
# runs two xdist workers on two cores (two threads each made recognizer steps up to ~8x slower), and results are
# bit-identical only at a fixed thread count. Child processes (CLI subprocess tests) inherit it.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


def shared_data_path(name: str) -> Path:
    """``../shared/data/<name>`` next to the repository (or ``$FREQMIX_SHARED_DATA/<name>``); skip when missing.

    Under ``CI=true`` a missing data set fails the test instead, so CI cannot go green by skipping.
    """
    root = os.environ.get("FREQMIX_SHARED_DATA")
    path = (Path(root) if root else Path(__file__).parents[1].parent / "shared" / "data") / name
    if not path.exists():
        message = f"shared data '{path}' not found (set FREQMIX_SHARED_DATA to the folder holding orl/, lfw_subset/)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Callable[[str], Path]:
    """``shared_data("orl")`` -> Path of a real data set (see :func:`shared_data_path`)."""
    return shared_data_path


@pytest.fixture
def image_folder(tmp_path: Path) -> Callable[..., Path]:
    """Build ``tmp_path/<root>/<identity>/<i>.png`` with random pixels: ``image_folder({"ann": 3, "bob": 2})``.

    :param counts: images per identity.
    :param size: ``(height, width)`` of every image.
    :param channels: 1 (gray) or 3 (written as BGR, as OpenCV does).
    :param root: folder name under ``tmp_path``; calls with the same root add to the same tree.
    """

    def build(
        counts: dict[str, int], size: tuple[int, int] = (16, 16), channels: int = 1, root: str = "faces"
    ) -> Path:
        folder = tmp_path / root
        rng = np.random.default_rng(0)
        for name, count in counts.items():
            (folder / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                shape = size if channels == 1 else (*size, channels)
                cv2.imwrite(str(folder / name / f"{i:02d}.png"), rng.integers(0, 256, shape, dtype=np.uint8))
        folder.mkdir(exist_ok=True)
        return folder

    return build


@pytest.fixture
def lfw_tree(tmp_path: Path) -> Path:
    """``tmp_path/lfw`` in LFW's layout: identities Ann and Bob, images ``<name>_0001.jpg`` and ``_0002.jpg`` (20×20
    gray, grey levels 40 and 80)."""
    root = tmp_path / "lfw"
    for name in ("Ann", "Bob"):
        (root / name).mkdir(parents=True)
        for i in (1, 2):
            cv2.imwrite(str(root / name / f"{name}_{i:04d}.jpg"), np.full((20, 20), 40 * i, np.uint8))
    return root
