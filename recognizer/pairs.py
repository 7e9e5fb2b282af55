"""Verification pairs: LFW's pairs.txt (10 folds in file order) and pairs drawn from an identity-labelled set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recognizer.faces import DataError, FaceDataset, PairSet, UnusablePairsError, check_color, check_image_size
from recognizer.image_files import read_image, resize_face, stack_chw, warn_unreadable


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


class _LfwImages:
    """LFW's ``root/<name>/<name>_<i:04d>.jpg``, each read and resized once (None: missing or unreadable)."""

    def __init__(self, root: Path, image_size: int, skip_missing: bool) -> None:
        self.root, self.image_size, self.skip_missing = root, image_size, skip_missing
        self.cache: dict[Path, np.ndarray | None] = {}

    def __call__(self, name: str, index: int) -> np.ndarray | None:
        path = self.root / name / f"{name}_{index:04d}.jpg"
        if path not in self.cache:
            img = read_image(path) if path.is_file() else None
            if img is None and not self.skip_missing:
                raise DataError(f"LFW image '{path}' is missing or unreadable; check root or pass skip_missing=True")
            self.cache[path] = None if img is None else resize_face(img, self.image_size, f"'{path}'")
        return self.cache[path]

    def unreadable(self) -> list[str]:
        """The files that exist but could not be decoded."""
        return [str(p) for p, img in self.cache.items() if img is None and p.is_file()]


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
    check_image_size(image_size)
    check_color(color)
    pairs_file, root = Path(pairs_file), Path(root)
    for path, what in ((pairs_file, "pairs file"), (root, "LFW image folder")):
        if not path.exists():
            raise DataError(f"{what} '{path}' does not exist")

    image = _LfwImages(root, image_size, skip_missing)
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
    warn_unreadable(image.unreadable(), f"'{root}'")
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
    stacked = stack_chw(kept_a + kept_b, color, f"'{root}'")
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
