"""Reading image files: identity folders (``ROOT/<identity>/<image>``) and the decode / resize / stack steps that
the LFW pairs reader and the scikit-learn adapters share."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from recognizer.faces import IMAGE_EXTENSIONS, DataError, FaceDataset, check_color, check_image_size

MIN_SIDE = 8


def read_image(path: Path) -> np.ndarray | None:
    """``(H, W)`` gray or ``(H, W, 3)`` RGB uint8, or None when OpenCV cannot decode the file."""
    try:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if img is None or img.size == 0:
        return None
    if img.dtype == np.uint16:  # 16-bit PNG/PGM: keep the 8 most significant bits' worth of range
        img = np.round(img / 257.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        return None
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return img if img.ndim == 2 else None


def resize_face(img: np.ndarray, image_size: int, source: str) -> np.ndarray:
    h, w = img.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise DataError(
            f"image {source} is {w}×{h} pixels; freqmix needs at least {MIN_SIDE}×{MIN_SIDE}; remove it or use "
            "larger images"
        )
    # Area averaging is the alias-free way to shrink; it degenerates to blocky copies when enlarging.
    shrink = h >= image_size and w >= image_size
    return cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def stack_chw(images: list[np.ndarray], color: str, where: str) -> np.ndarray:
    """Stack resized ``(S, S)``/``(S, S, 3)`` images into ``(N, C, S, S)`` uint8 with one channel count."""
    n_gray = sum(img.ndim == 2 for img in images)
    if color == "auto":
        color = "gray" if n_gray == len(images) else "rgb"
        if color == "rgb" and n_gray:
            warnings.warn(
                f"converted {n_gray} single-channel image(s) in {where} to RGB because the others are in color; "
                "to train on gray instead, convert the color images (or load with color='gray')",
                stacklevel=3,
            )
    if color == "gray":
        planes = [img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) for img in images]
        return np.stack(planes)[:, None]
    rgb = [np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img for img in images]
    return np.stack(rgb).transpose(0, 3, 1, 2)


def warn_unreadable(unreadable: list[str], where: str) -> None:
    if unreadable:
        warnings.warn(
            f"skipped {len(unreadable)} unreadable image file(s) in {where} (first: '{unreadable[0]}'); "
            "fix or delete them",
            stacklevel=3,
        )


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def read_faces(items: Sequence[str | os.PathLike[str] | np.ndarray], image_size: int, channels: int) -> torch.Tensor:
    """Faces as training reads them: each item an image file (decoded as :func:`load_identity_folders` decodes
    it) or a ``uint8`` array, ``(H, W)`` gray or ``(H, W, 3)`` RGB; resized to ``image_size`` the same way and
    converted to ``channels`` (1: gray, 3: RGB) -> ``uint8 (N, channels, image_size, image_size)``."""
    check_image_size(image_size)
    if channels not in (1, 3):
        raise DataError(f"channels={channels} must be 1 (gray) or 3 (RGB)")
    faces = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            if item.dtype != np.uint8 or not (item.ndim == 2 or (item.ndim == 3 and item.shape[2] in (1, 3))):
                raise DataError(f"image {i} is a {item.dtype} array of shape {item.shape}; pass uint8 (H, W) gray "
                                "or (H, W, 3) RGB pixels")
            img, source = (item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item), f"{i}"
        else:
            img, source = read_image(Path(item)), f"'{item}'"
            if img is None:
                raise DataError(f"image {source} cannot be read (missing, or not an image OpenCV decodes)")
        faces.append(resize_face(img, image_size, source))
    if not faces:
        raise DataError("no images given")
    return torch.from_numpy(stack_chw(faces, "gray" if channels == 1 else "rgb", "the images given"))


def load_identity_folders(
    root: str | Path,
    image_size: int = 112,
    color: str = "auto",
    min_images: int = 2,
    drop_small: bool = False,
) -> FaceDataset:
    """Load ``root/<identity>/<image>``: one sub-folder per identity, labels in sorted folder-name order.

    Files with extension jpg/jpeg/png/pgm/bmp (any case) are read with OpenCV and resized to
    ``image_size × image_size`` (aspect ratio is not kept); other files are ignored, as are sub-folders without
    image files. Files with an image extension that OpenCV cannot decode are skipped, with one warning that counts
    them and names the first.

    :param root: dataset folder.
    :param image_size: output side in pixels, a positive multiple of 8.
    :param color: ``"gray"`` (1 channel), ``"rgb"`` (3 channels) or ``"auto"``: gray if every image is
        single-channel, else RGB (gray images are replicated to 3 channels, with a warning that counts them).
    :param min_images: fewest readable images an identity may have (2: one to train, one to test).
    :param drop_small: drop identities with fewer than ``min_images`` images (with a warning) instead of raising.
    :return: images ``uint8 (N, C, image_size, image_size)``, identities in sorted folder-name order.
    """
    check_image_size(image_size)
    check_color(color)
    root = Path(root)
    if not root.exists():
        raise DataError(f"data path '{root}' does not exist; pass a folder laid out as ROOT/<identity>/<image>.jpg")
    if not root.is_dir():
        raise DataError(f"data path '{root}' is not a directory; pass a folder laid out as ROOT/<identity>/<image>.jpg")

    unreadable: list[str] = []
    per_identity: list[tuple[str, list[np.ndarray], list[str]]] = []
    for name, files in _identity_folders(root):
        images, paths = [], []
        for f in files:
            img = read_image(f)
            if img is None:
                unreadable.append(str(f))
                continue
            images.append(resize_face(img, image_size, f"'{f}'"))
            paths.append(str(f))
        per_identity.append((name, images, paths))
    warn_unreadable(unreadable, f"'{root}'")

    per_identity = _enough_images(per_identity, root, min_images, drop_small)
    images = [img for _, imgs, _ in per_identity for img in imgs]
    labels = [label for label, (_, imgs, _) in enumerate(per_identity) for _ in imgs]
    return FaceDataset(
        images=torch.from_numpy(stack_chw(images, color, f"'{root}'")),
        labels=torch.tensor(labels, dtype=torch.int64),
        names=[name for name, _, _ in per_identity],
        paths=[p for _, _, paths in per_identity for p in paths],
    )


def identity_folder_digest(root: str | Path) -> str:
    """Hex digest of what ``root``'s identity folders hold: each image file's ``<identity>/<file name>`` and size in
    bytes. A data set copied to another path, or another machine, keeps its digest; an image added, removed or
    replaced by one of another size changes it (DataError if ``root`` holds no identity folders)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, files in _identity_folders(Path(root)):
        for f in files:
            digest.update(f"{name}/{f.name}:{f.stat().st_size}\n".encode())
    return digest.hexdigest()


def _identity_folders(root: Path) -> list[tuple[str, list[Path]]]:
    """(name, image files) of every sub-folder of ``root`` that holds image files, in sorted name order."""
    folders: list[tuple[str, list[Path]]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in folder.iterdir() if is_image_file(f))
        if files:
            folders.append((folder.name, files))
    if not folders:
        raise DataError(
            f"data path '{root}' contains no identity folders with images (expected ROOT/<identity>/<image>.jpg; "
            f"image files end in {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return folders


def _enough_images(per_identity: list[tuple[str, list[np.ndarray], list[str]]], root: Path, min_images: int,
                   drop_small: bool) -> list[tuple[str, list[np.ndarray], list[str]]]:
    """The identities with at least ``min_images`` readable images (DataError for one with fewer unless
    ``drop_small``); at least two of them."""
    small = [(name, len(images)) for name, images, _ in per_identity if len(images) < min_images]
    if small and not drop_small:
        name, count = small[0]
        others = f" (and {len(small) - 1} more)" if len(small) > 1 else ""
        raise DataError(
            f"identity '{name}' in '{root}' has {count} readable image(s){others}; every identity needs at least "
            f"{min_images} (one to train, one to test); remove it or pass --drop-small-identities (drop_small=True)"
        )
    if small:
        warnings.warn(
            f"dropped {len(small)} identities with fewer than {min_images} images from '{root}' "
            f"(first: '{small[0][0]}')",
            stacklevel=3,
        )
        per_identity = [entry for entry in per_identity if len(entry[1]) >= min_images]
    # With min_images < 1 an identity whose files were all unreadable would still be here, holding no images.
    per_identity = [entry for entry in per_identity if entry[1]]
    if len(per_identity) < 2:
        raise DataError(
            f"data path '{root}' has {len(per_identity)} identity folder(s) with readable images; face recognition "
            "needs at least 2"
        )
    return per_identity
