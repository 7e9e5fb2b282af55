"""Face datasets: identity folders, LFW pairs, synthetic faces (rendered by recognizer.synthetic), scikit-learn
adapters and splits (private_split: the one split of a run that training and the attacks share).

Every loader returns images as ``torch.uint8`` tensors ``(N, C, S, S)`` with ``C = 1`` (gray) or ``3`` (RGB) and
``S`` a multiple of 8 (the block DCT downstream works on 8×8 blocks). Bad input raises :class:`DataError` with a
one-line message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch

from freqmix.errors import FreqmixError
from recognizer.synthetic import identity_params, render_identity

__all__ = [
    "DataError",
    "UnusablePairsError",
    "FaceDataset",
    "PairSet",
    "IMAGE_EXTENSIONS",
    "load_identity_folders",
    "synthetic_faces",
    "load_lfw_pairs",
    "make_pairs",
    "fetch_sklearn",
    "load_dataset",
    "split_per_identity",
    "split_identities",
    "PrivateSplit",
    "private_split",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".bmp"})
COLORS = ("auto", "gray", "rgb")
SKLEARN_DATASETS = ("olivetti", "lfw")
MIN_SIDE = 8


class DataError(FreqmixError):
    """Bad data or data arguments; the message is one line saying what is wrong and how to fix it."""


class UnusablePairsError(DataError):
    """A pairs file whose readable pairs are all same-person or all different-person: no verification threshold
    can be chosen from them."""


@dataclass
class FaceDataset:
    """Labelled face images.

    :param images: ``torch.uint8`` ``(N, C, H, W)``, pixel values 0..255, ``C`` = 1 (gray) or 3 (RGB).
    :param labels: ``torch.int64`` ``(N,)``, identity index 0..num_identities-1.
    :param names: identity name per label index.
    :param paths: source file per image (``""`` for generated or downloaded images).
    """

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]
    paths: list[str]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(
                f"FaceDataset.images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        n = self.images.shape[0]
        if self.labels.shape != (n,) or len(self.paths) != n:
            raise DataError(
                f"FaceDataset has {n} images but {tuple(self.labels.shape)} labels and {len(self.paths)} paths; "
                "give one label and one path per image"
            )

    @property
    def num_identities(self) -> int:
        return len(self.names)

    @property
    def image_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        """Image side ``W`` in pixels."""
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(uint8 (n, C, H, W), int64 (n,))``: the images and labels at ``indices`` (what the env's probe reads,
        from this set or from a streamed one alike)."""
        return self.images[indices], self.labels[indices]

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> FaceDataset:
        """The images at ``indices`` (integer positions or a boolean mask); names and labels are kept as they are."""
        idx = torch.as_tensor(np.asarray(indices))
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
        idx = idx.long().reshape(-1)
        return FaceDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            names=list(self.names),
            paths=[self.paths[i] for i in idx.tolist()],
        )

    def float_images(self) -> torch.Tensor:
        """``float32`` ``(N, C, H, W)``, values 0..255 (the convention every other package expects)."""
        return self.images.float()


@dataclass
class PairSet:
    """Verification pairs.

    :param images_a: ``torch.uint8`` ``(M, C, H, W)``, first image of each pair.
    :param images_b: ``torch.uint8`` ``(M, C, H, W)``, second image of each pair.
    :param same: ``torch.bool`` ``(M,)``, True when both images show the same person.
    :param fold: ``torch.int64`` ``(M,)``, cross-validation fold 0..9 of each pair.
    :param skipped: how many pairs of the source were dropped because an image was missing or unreadable.
    """

    images_a: torch.Tensor
    images_b: torch.Tensor
    same: torch.Tensor
    fold: torch.Tensor
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.same.shape[0])


# --------------------------------------------------------------------------------------------------------------
# Reading image files


def _check_image_size(image_size: int) -> None:
    if not isinstance(image_size, (int, np.integer)) or image_size <= 0 or image_size % 8:
        raise DataError(
            f"image_size={image_size!r} is not a positive multiple of 8 (the block DCT works on 8×8 blocks); "
            "use e.g. 64, 96 or 112"
        )


def _check_color(color: str) -> None:
    if color not in COLORS:
        raise DataError(f"color={color!r} is not one of {', '.join(map(repr, COLORS))}")


def _read_image(path: Path) -> np.ndarray | None:
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


def _resize(img: np.ndarray, image_size: int, source: str) -> np.ndarray:
    h, w = img.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise DataError(
            f"image {source} is {w}×{h} pixels; freqmix needs at least {MIN_SIDE}×{MIN_SIDE}; remove it or use "
            "larger images"
        )
    # Area averaging is the alias-free way to shrink; it degenerates to blocky copies when enlarging.
    shrink = h >= image_size and w >= image_size
    return cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _to_chw(images: list[np.ndarray], color: str, where: str) -> np.ndarray:
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


def _warn_unreadable(unreadable: list[str], where: str) -> None:
    if unreadable:
        warnings.warn(
            f"skipped {len(unreadable)} unreadable image file(s) in {where} (first: '{unreadable[0]}'); "
            "fix or delete them",
            stacklevel=3,
        )


def _is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def read_faces(items: Sequence[str | os.PathLike[str] | np.ndarray], image_size: int, channels: int) -> torch.Tensor:
    """Faces as training reads them: each item an image file (decoded as :func:`load_identity_folders` decodes
    it) or a ``uint8`` array, ``(H, W)`` gray or ``(H, W, 3)`` RGB; resized to ``image_size`` the same way and
    converted to ``channels`` (1: gray, 3: RGB) -> ``uint8 (N, channels, image_size, image_size)``."""
    _check_image_size(image_size)
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
            img, source = _read_image(Path(item)), f"'{item}'"
            if img is None:
                raise DataError(f"image {source} cannot be read (missing, or not an image OpenCV decodes)")
        faces.append(_resize(img, image_size, source))
    if not faces:
        raise DataError("no images given")
    return torch.from_numpy(_to_chw(faces, "gray" if channels == 1 else "rgb", "the images given"))


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
    _check_image_size(image_size)
    _check_color(color)
    root = Path(root)
    if not root.exists():
        raise DataError(f"data path '{root}' does not exist; pass a folder laid out as ROOT/<identity>/<image>.jpg")
    if not root.is_dir():
        raise DataError(f"data path '{root}' is not a directory; pass a folder laid out as ROOT/<identity>/<image>.jpg")

    folders: list[tuple[str, list[Path]]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in folder.iterdir() if _is_image_file(f))
        if files:
            folders.append((folder.name, files))
    if not folders:
        raise DataError(
            f"data path '{root}' contains no identity folders with images (expected ROOT/<identity>/<image>.jpg; "
            f"image files end in {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )

    unreadable: list[str] = []
    per_identity: list[tuple[str, list[np.ndarray], list[str]]] = []
    for name, files in folders:
        images, paths = [], []
        for f in files:
            img = _read_image(f)
            if img is None:
                unreadable.append(str(f))
                continue
            images.append(_resize(img, image_size, f"'{f}'"))
            paths.append(str(f))
        per_identity.append((name, images, paths))
    _warn_unreadable(unreadable, f"'{root}'")

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
            stacklevel=2,
        )
        per_identity = [entry for entry in per_identity if len(entry[1]) >= min_images]
    # With min_images < 1 an identity whose files were all unreadable would still be here, holding no images.
    per_identity = [entry for entry in per_identity if entry[1]]
    if len(per_identity) < 2:
        raise DataError(
            f"data path '{root}' has {len(per_identity)} identity folder(s) with readable images; face recognition "
            "needs at least 2"
        )

    images = [img for _, imgs, _ in per_identity for img in imgs]
    labels = [label for label, (_, imgs, _) in enumerate(per_identity) for _ in imgs]
    return FaceDataset(
        images=torch.from_numpy(_to_chw(images, color, f"'{root}'")),
        labels=torch.tensor(labels, dtype=torch.int64),
        names=[name for name, _, _ in per_identity],
        paths=[p for _, _, paths in per_identity for p in paths],
    )


# --------------------------------------------------------------------------------------------------------------
# Synthetic faces


def synthetic_faces(
    num_identities: int = 20,
    images_per_identity: int = 10,
    image_size: int = 112,
    seed: int = 0,
    color: bool = False,
) -> FaceDataset:
    """Generated cartoon faces: the embedded default dataset (no download).

    Each identity has its own face (shape, skin and hair tone, eyes, brows, nose, mouth, skin texture) drawn from
    its own generator; each image varies pose, expression and lighting a little. Identity ``k`` depends only on
    ``seed`` and ``k``, so a smaller ``num_identities`` gives a prefix of a larger one.

    :return: images ``uint8 (num_identities * images_per_identity, 1 or 3, image_size, image_size)``, names
        ``synthetic_000``..., paths ``""``.
    """
    _check_image_size(image_size)
    if num_identities < 2 or images_per_identity < 1:
        raise DataError(
            f"synthetic_faces needs num_identities >= 2 and images_per_identity >= 1, got {num_identities} and "
            f"{images_per_identity}"
        )
    channels = 3 if color else 1
    blocks = []
    for ss in np.random.SeedSequence(seed).spawn(num_identities):
        identity_ss, image_ss = ss.spawn(2)
        params = identity_params(np.random.default_rng(identity_ss))
        blocks.append(
            render_identity(params, np.random.default_rng(image_ss), images_per_identity, image_size, channels)
        )
    n = num_identities * images_per_identity
    return FaceDataset(
        images=torch.from_numpy(np.concatenate(blocks)),
        labels=torch.arange(num_identities, dtype=torch.int64).repeat_interleave(images_per_identity),
        names=[f"synthetic_{k:03d}" for k in range(num_identities)],
        paths=[""] * n,
    )


# --------------------------------------------------------------------------------------------------------------
# Verification pairs


def _parse_pairs(pairs_file: Path) -> list[tuple[str, int, str, int, int]]:
    """``(name_a, index_a, name_b, index_b, fold)`` per line of an LFW pairs file."""
    lines = [line.split() for line in pairs_file.read_text(encoding="utf-8").splitlines()]
    lines = [fields for fields in lines if fields]
    # Official pairs.txt starts with "<folds>\t<pairs per class per fold>"; each fold is that many same pairs
    # followed by as many different pairs. Without the header the folds are unknown: deal them round robin.
    per_fold = None
    if lines and len(lines[0]) == 2 and all(f.isdigit() for f in lines[0]):
        per_fold = 2 * int(lines[0][1])
        lines = lines[1:]
    pairs = []
    for i, fields in enumerate(lines):
        try:
            if len(fields) == 3:
                pair = (fields[0], int(fields[1]), fields[0], int(fields[2]))
            elif len(fields) == 4:
                pair = (fields[0], int(fields[1]), fields[2], int(fields[3]))
            else:
                raise ValueError
        except ValueError:
            raise DataError(
                f"pairs file '{pairs_file}': cannot parse '{' '.join(fields)}'; expected 'name i j' (same person) or "
                "'name1 i name2 j' (different people)"
            ) from None
        fold = i // per_fold if per_fold else i % 10
        pairs.append((*pair, fold))
    return pairs


def load_lfw_pairs(
    pairs_file: str | Path,
    root: str | Path,
    image_size: int = 112,
    color: str = "auto",
    skip_missing: bool = True,
    require_both_kinds: bool = True,
) -> PairSet:
    """Load LFW verification pairs (the official ``pairs.txt`` format) with images ``root/<name>/<name>_<i:04d>.jpg``.

    A header line ``<folds> <n>`` (as in ``pairs.txt``) gives the folds: each is ``n`` same then ``n`` different
    pairs. Files without it (e.g. ``pairs_in_subset.txt``) get folds 0..9 round robin.

    :param skip_missing: skip pairs whose image is missing or unreadable (counted in ``PairSet.skipped``); when
        False a missing image raises :class:`DataError`.
    :param require_both_kinds: raise :class:`UnusablePairsError` when the usable pairs are all same-person or all
        different-person (verification cannot be measured on them); False returns them anyway.
    :return: images ``uint8 (M, C, image_size, image_size)``; see :class:`PairSet`.
    """
    _check_image_size(image_size)
    _check_color(color)
    pairs_file, root = Path(pairs_file), Path(root)
    for path, what in ((pairs_file, "pairs file"), (root, "LFW image folder")):
        if not path.exists():
            raise DataError(f"{what} '{path}' does not exist")

    cache: dict[Path, np.ndarray | None] = {}

    def image(name: str, index: int) -> np.ndarray | None:
        path = root / name / f"{name}_{index:04d}.jpg"
        if path not in cache:
            img = _read_image(path) if path.is_file() else None
            if img is None and not skip_missing:
                raise DataError(f"LFW image '{path}' is missing or unreadable; check root or pass skip_missing=True")
            cache[path] = None if img is None else _resize(img, image_size, f"'{path}'")
        return cache[path]

    kept_a, kept_b, same, folds = [], [], [], []
    skipped = 0
    for name_a, i, name_b, j, fold in _parse_pairs(pairs_file):
        a, b = image(name_a, i), image(name_b, j)
        if a is None or b is None:
            skipped += 1
            continue
        kept_a.append(a)
        kept_b.append(b)
        same.append(name_a == name_b)
        folds.append(fold)
    _warn_unreadable([str(p) for p, img in cache.items() if img is None and p.is_file()], f"'{root}'")
    if not kept_a:
        raise DataError(
            f"none of the pairs in '{pairs_file}' have both images under '{root}' (skipped {skipped}); "
            "point root at the LFW folder holding <name>/<name>_0001.jpg"
        )
    if require_both_kinds and len(set(same)) < 2:
        kind = "same-person" if same[0] else "different-person"
        raise UnusablePairsError(
            f"pairs file '{pairs_file}' has only {kind} pairs with both images under '{root}' ({len(same)} usable, "
            f"{skipped} skipped); verification needs both kinds; give a pairs file that has both, or none"
        )
    stacked = _to_chw(kept_a + kept_b, color, f"'{root}'")
    m = len(kept_a)
    return PairSet(
        images_a=torch.from_numpy(stacked[:m]),
        images_b=torch.from_numpy(stacked[m:]),
        same=torch.tensor(same, dtype=torch.bool),
        fold=torch.tensor(folds, dtype=torch.int64),
        skipped=skipped,
    )


def make_pairs(ds: FaceDataset, num_pairs: int = 600, seed: int = 0, folds: int = 10) -> PairSet:
    """Balanced verification pairs drawn from a dataset, without repeats, deterministic from ``seed``.

    The first ``num_pairs // 2`` pairs are same-identity, the rest different-identity; pair ``i`` is in fold
    ``i % folds`` so that every fold is balanced as well.
    """
    labels = ds.labels.numpy()
    counts = np.bincount(labels, minlength=ds.num_identities)
    n_same, n_diff = num_pairs // 2, num_pairs - num_pairs // 2
    possible_same = int((counts * (counts - 1) // 2).sum())
    possible_diff = int((len(labels) ** 2 - (counts**2).sum()) // 2)
    if num_pairs < 2 or n_same > possible_same or n_diff > possible_diff:
        raise DataError(
            f"cannot make {num_pairs} distinct pairs (half same, half different) from a dataset with "
            f"{possible_same} same-identity and {possible_diff} different-identity pairs; ask for between 2 and "
            f"{2 * min(possible_same, possible_diff)}"
        )
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(labels == k) for k in range(ds.num_identities)]
    with_two = np.flatnonzero(counts >= 2)

    def draw(count: int, same: bool) -> list[tuple[int, int]]:
        chosen: dict[tuple[int, int], None] = {}  # insertion-ordered set keeps the result deterministic
        while len(chosen) < count:
            if same:
                a, b = rng.choice(members[rng.choice(with_two)], size=2, replace=False)
            else:
                a, b = rng.integers(len(labels), size=2)
                if labels[a] == labels[b]:
                    continue
            chosen[(int(min(a, b)), int(max(a, b)))] = None
        return list(chosen)

    pairs = draw(n_same, True) + draw(n_diff, False)
    a_idx = torch.tensor([a for a, _ in pairs])
    b_idx = torch.tensor([b for _, b in pairs])
    return PairSet(
        images_a=ds.images[a_idx],
        images_b=ds.images[b_idx],
        same=torch.tensor([True] * n_same + [False] * n_diff),
        fold=torch.arange(num_pairs, dtype=torch.int64) % folds,
    )


# --------------------------------------------------------------------------------------------------------------
# scikit-learn datasets and the one entry point


def fetch_sklearn(name: str, image_size: int = 112, color: str = "auto") -> FaceDataset:
    """Olivetti faces (40 ids, gray) or LFW people (≥ 20 images per person, RGB) through scikit-learn's fetchers.

    Downloads into scikit-learn's data home on first use; with no internet raises :class:`DataError`.

    :param color: ``"auto"`` keeps each dataset's own (Olivetti gray, LFW RGB); ``"gray"``/``"rgb"`` convert.
    :return: images ``uint8 (N, C, image_size, image_size)``, paths ``""``.
    """
    _check_image_size(image_size)
    _check_color(color)
    if name not in SKLEARN_DATASETS:
        raise DataError(f"unknown scikit-learn dataset '{name}'; use one of {', '.join(SKLEARN_DATASETS)}")
    import sklearn.datasets  # deferred: importing scikit-learn costs a second, and most runs never get here

    fetch = {
        "olivetti": sklearn.datasets.fetch_olivetti_faces,
        "lfw": partial(sklearn.datasets.fetch_lfw_people, min_faces_per_person=20, color=color != "gray", resize=1.0),
    }[name]
    # urllib waits forever on a network that drops packets; bound each socket operation instead.
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Retry downloading")
            bunch = fetch()
    except Exception as exc:  # noqa: BLE001 - the fetchers raise URLError, HTTPError, OSError, ... when offline
        reason = (str(exc).splitlines() or [""])[0]
        raise DataError(
            f"could not download the scikit-learn '{name}' faces ({type(exc).__name__}: {reason}); no internet? "
            "pass a local folder with --data PATH"
        ) from exc
    finally:
        socket.setdefaulttimeout(previous_timeout)

    pixels = np.asarray(bunch.images, dtype=np.float32)
    if pixels.max() <= 1.0:  # Olivetti (and older LFW fetchers) scale to 0..1
        pixels = pixels * 255.0
    pixels = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    images = [_resize(img, image_size, f"{name}[{i}]") for i, img in enumerate(pixels)]
    labels = np.asarray(bunch.target, dtype=np.int64)
    names = (
        [str(n) for n in bunch.target_names]
        if "target_names" in bunch
        else [f"{name}_{k:02d}" for k in range(int(labels.max()) + 1)]
    )
    return FaceDataset(
        images=torch.from_numpy(_to_chw(images, color, f"scikit-learn '{name}'")),
        labels=torch.from_numpy(labels),
        names=names,
        paths=[""] * len(images),
    )


def load_dataset(
    spec: str | Path,
    image_size: int = 112,
    color: str = "auto",
    seed: int = 0,
    min_images: int = 2,
    drop_small: bool = False,
) -> FaceDataset:
    """One entry point: ``"synthetic"``, ``"olivetti"``, ``"lfw"``, a folder ``ROOT/<identity>/<image>``, or an
    insightface ``PATH/train.rec`` (with ``train.idx`` beside it; decoded RGB unless ``color="gray"``).

    The names win over a folder of the same name in the working directory; write ``./synthetic`` for the folder.
    ``seed`` only affects ``"synthetic"`` (gray unless ``color="rgb"``).
    """
    if spec == "synthetic":
        _check_color(color)
        return synthetic_faces(image_size=image_size, seed=seed, color=color == "rgb")
    if spec in SKLEARN_DATASETS:
        return fetch_sklearn(str(spec), image_size=image_size, color=color)
    if not Path(spec).exists():
        raise DataError(
            f"data path '{spec}' does not exist; pass a folder ROOT/<identity>/<image>.jpg, a PATH/train.rec "
            f"or one of 'synthetic', {', '.join(map(repr, SKLEARN_DATASETS))}"
        )
    if Path(spec).suffix == ".rec":
        # Imported here: insightface_io builds on this module's FaceDataset and PairSet.
        from recognizer.insightface_io import load_record_dataset

        _check_color(color)
        return load_record_dataset(spec, image_size=image_size, color="gray" if color == "gray" else "rgb")
    return load_identity_folders(spec, image_size=image_size, color=color, min_images=min_images,
                                 drop_small=drop_small)


# --------------------------------------------------------------------------------------------------------------
# Splits


def split_per_identity(
    ds: FaceDataset, train_per_identity: int | None = None, seed: int = 0
) -> tuple[FaceDataset, FaceDataset]:
    """Split every identity's images into train and test (closed-set identification), deterministic from ``seed``.

    :param train_per_identity: train images per identity; default half of each identity's images (rounded down,
        at least 1). Every identity keeps at least one test image.
    :return: ``(train, test)`` with the original labels and names, each in original image order.
    """
    labels = ds.labels.numpy()
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for k in range(ds.num_identities):
        members = np.flatnonzero(labels == k)
        n_train = max(1, len(members) // 2) if train_per_identity is None else train_per_identity
        if len(members) < 2 or not 1 <= n_train < len(members):
            raise DataError(
                f"identity '{ds.names[k]}' has {len(members)} image(s), cannot put {n_train} in train and at least "
                "one in test; drop identities with fewer than 2 images or lower train_per_identity"
            )
        shuffled = rng.permutation(members)
        train_idx.append(shuffled[:n_train])
        test_idx.append(shuffled[n_train:])
    return ds.subset(np.sort(np.concatenate(train_idx))), ds.subset(np.sort(np.concatenate(test_idx)))


def _select_identities(ds: FaceDataset, identities: np.ndarray) -> FaceDataset:
    """The images of ``identities`` (sorted label indices), relabelled 0..len(identities)-1."""
    new_label = np.full(ds.num_identities, -1, dtype=np.int64)
    new_label[identities] = np.arange(len(identities))
    relabelled = new_label[ds.labels.numpy()]
    keep = np.flatnonzero(relabelled >= 0)
    return FaceDataset(
        images=ds.images[keep],
        labels=torch.from_numpy(relabelled[keep]),
        names=[ds.names[k] for k in identities],
        paths=[ds.paths[i] for i in keep],
    )


def split_identities(
    ds: FaceDataset, private_fraction: float = 0.5, seed: int = 0
) -> tuple[FaceDataset, FaceDataset]:
    """Split identities into disjoint private (the defender trains on) and auxiliary (the attacker owns) sets.

    :param private_fraction: share of identities that are private, rounded, at least one identity on each side.
    :return: ``(private, auxiliary)``, each relabelled 0..n-1 with its identities' names.
    """
    if ds.num_identities < 2 or not 0.0 < private_fraction < 1.0:
        raise DataError(
            f"cannot split {ds.num_identities} identities with private_fraction={private_fraction}; need at least 2 "
            "identities and 0 < private_fraction < 1"
        )
    order = np.random.default_rng(seed).permutation(ds.num_identities)
    n_private = min(max(1, round(private_fraction * ds.num_identities)), ds.num_identities - 1)
    return (
        _select_identities(ds, np.sort(order[:n_private])),
        _select_identities(ds, np.sort(order[n_private:])),
    )


@dataclass
class PrivateSplit:
    """The faces of a run: the defender's training and held-out images (of the same, private identities) and the
    attacker's auxiliary identities (disjoint; None when the run trains on every identity)."""

    train: FaceDataset
    test: FaceDataset
    auxiliary: FaceDataset | None


def private_split(
    ds: FaceDataset, private_fraction: float | None = None, train_per_identity: int | None = None, seed: int = 0
) -> PrivateSplit:
    """The one split of a run's data that training and the attacks must agree on: the private identities
    (:func:`split_identities`; every identity when ``private_fraction`` is None), split per identity into train and
    test (:func:`split_per_identity`), and the auxiliary identities; all deterministic from ``seed``."""
    auxiliary = None
    if private_fraction is not None:
        ds, auxiliary = split_identities(ds, private_fraction, seed=seed)
    train, test = split_per_identity(ds, train_per_identity, seed=seed)
    return PrivateSplit(train, test, auxiliary)
