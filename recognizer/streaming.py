"""Training sets larger than memory: images read and decoded on demand by DataLoader worker processes, drawn in a
seeded order whose position is part of a checkpoint, so that a resumed run sees the very batches it would have.

The order is an endless stream: epoch ``e`` is the permutation ``numpy.random.default_rng([seed, e])`` of the
images, epochs follow one another, and batches run across epoch boundaries. The state is only the seed and how many
images were handed out; the DataLoader's prefetching (indices drawn ahead of use) never enters it.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from recognizer.faces import IMAGE_EXTENSIONS, DataError
from recognizer.insightface_io import RecordImageSet, decode_image
from recognizer.sampling import balanced_epoch, check_sampler

__all__ = [
    "EncodedFaces",
    "ImageFolderFaces",
    "open_encoded_faces",
    "StreamingFaceDataset",
    "SeededStreamSampler",
    "StreamingLoader",
    "StreamedTrainingSet",
]


class EncodedFaces(Protocol):
    """Labelled encoded images addressable by index (:class:`ImageFolderFaces`, ``RecordImageSet``)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[bytes, int]: ...

    def labels(self) -> np.ndarray: ...


class ImageFolderFaces:
    """``root/<identity>/<image>`` listed once (labels in sorted folder-name order, as ``load_identity_folders``);
    each image's bytes are read only when asked for.

    :param root: dataset folder.
    """

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"data path '{root}' is not a folder; pass ROOT/<identity>/<image>.jpg")
        self.paths: list[Path] = []
        label_list: list[int] = []
        self.names: list[str] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(f for f in folder.iterdir()
                           if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file() and not f.name.startswith("."))
            if files:
                label_list += [len(self.names)] * len(files)
                self.paths += files
                self.names.append(folder.name)
        if len(self.names) < 2:
            raise DataError(f"data path '{root}' has {len(self.names)} identity folder(s) with images; need at least 2")
        self._labels = np.array(label_list, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[bytes, int]:
        return self.paths[index].read_bytes(), int(self._labels[index])

    def labels(self) -> np.ndarray:
        """``(N,)`` int64 identity per image."""
        return self._labels.copy()


def open_encoded_faces(spec: str | Path) -> EncodedFaces:
    """An insightface ``train.rec`` (``train.idx`` beside it) or an identity-folder tree, read lazily."""
    path = Path(spec)
    if path.suffix == ".rec":
        return RecordImageSet(path)
    return ImageFolderFaces(path)


class StreamingFaceDataset(Dataset):
    """A map-style torch Dataset decoding one image per item: ``(uint8 (C, S, S), int label)``.

    :param faces: the encoded images (a ``.rec`` or a folder through :func:`open_encoded_faces`).
    :param image_size: output side ``S`` in pixels, a positive multiple of 8.
    :param color: ``"rgb"`` (C = 3) or ``"gray"`` (C = 1); fixed up front, since a stream cannot look ahead.
    """

    def __init__(self, faces: EncodedFaces, image_size: int = 112, color: str = "rgb") -> None:
        if image_size <= 0 or image_size % 8:
            raise DataError(f"image_size={image_size} is not a positive multiple of 8 (8×8 DCT blocks)")
        if color not in ("rgb", "gray"):
            raise DataError(f"color={color!r}: a streamed set decodes to 'rgb' or 'gray'")
        self.faces, self.image_size, self.color = faces, image_size, color

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        encoded, label = self.faces[index]
        return torch.from_numpy(decode_image(encoded, self.image_size, self.color)), label


class SeededStreamSampler(Sampler[int]):
    """Endless image indices: epoch ``e`` is the permutation ``default_rng([seed, e])`` of ``range(num_samples)``,
    or with ``balance`` that generator's :func:`recognizer.sampling.balanced_epoch`; iteration starts ``start``
    indices into that stream.

    :param num_samples: images in the data set.
    :param seed: the run's seed.
    :param start: position in the stream (images already handed out).
    :param balance: the identity label of each image, ``(num_samples,)``, to give each identity an equal share of
        every epoch; None: every image once per epoch.
    """

    def __init__(self, num_samples: int, seed: int, start: int = 0, balance: np.ndarray | None = None) -> None:
        if num_samples < 1 or seed < 0 or start < 0:
            raise DataError(f"sampler needs num_samples >= 1, seed >= 0, start >= 0; got {num_samples}, {seed}, {start}")
        if balance is not None and len(balance) != num_samples:
            raise DataError(f"balance needs one label per image ({num_samples}), got {len(balance)}")
        self.num_samples, self.seed, self.start, self.balance = num_samples, seed, start, balance

    def permutation(self, epoch: int) -> np.ndarray:
        """The image order of ``epoch``, ``(num_samples,)`` int64."""
        rng = np.random.default_rng([self.seed, epoch])
        return rng.permutation(self.num_samples) if self.balance is None else balanced_epoch(self.balance, rng)

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.num_samples)
        while True:
            for index in self.permutation(epoch)[offset:]:
                yield int(index)
            epoch, offset = epoch + 1, 0

    def __len__(self) -> int:
        # DataLoader asks for a length only to report one; the stream has none, so give one epoch.
        return self.num_samples


class StreamingLoader:
    """Batches ``(uint8 (B, C, S, S), int64 (B,))`` of a :class:`StreamingFaceDataset` in the seeded stream order,
    decoded by ``num_workers`` processes; :meth:`state_dict` goes into a checkpoint and
    :meth:`load_state_dict` continues bit-exactly where it was saved.

    :param dataset: the images.
    :param batch_size: images per batch ``B``.
    :param seed: the run's seed (the order of every epoch).
    :param num_workers: decoding processes (0: decode in this process).
    :param prefetch_factor: batches each worker decodes ahead; memory holds at most
        ``num_workers * prefetch_factor`` batches, however large the data set.
    :param balance: the images' identity labels for identity-balanced epochs (:class:`SeededStreamSampler`).
    """

    def __init__(self, dataset: StreamingFaceDataset, batch_size: int, seed: int, num_workers: int = 2,
                 prefetch_factor: int = 2, balance: np.ndarray | None = None) -> None:
        if batch_size < 1 or num_workers < 0 or prefetch_factor < 1:
            raise DataError(f"batch_size, prefetch_factor >= 1 and num_workers >= 0 needed; got {batch_size}, "
                            f"{prefetch_factor}, {num_workers}")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.num_workers, self.prefetch_factor, self.balance = num_workers, prefetch_factor, balance
        self.delivered = 0  # images handed out by next_batch(): the only state besides the seed
        self._batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None

    def _start(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler = SeededStreamSampler(len(self.dataset), self.seed, start=self.delivered, balance=self.balance)
        workers = {"num_workers": self.num_workers}
        if self.num_workers:
            workers.update(prefetch_factor=self.prefetch_factor, persistent_workers=False)
        return iter(DataLoader(self.dataset, batch_size=self.batch_size, sampler=sampler, **workers))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(images, labels)`` of the stream."""
        if self._batches is None:
            self._batches = self._start()
        images, labels = next(self._batches)
        self.delivered += len(labels)
        return images, labels.long()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict[str, Any]:
        """``{"seed", "num_samples", "delivered"}``: enough to rebuild the stream's position."""
        return {"seed": self.seed, "num_samples": len(self.dataset), "delivered": self.delivered}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (the workers restart at that position); the data set and seed must match."""
        if state["seed"] != self.seed or state["num_samples"] != len(self.dataset):
            raise DataError(
                f"the checkpoint's stream was seed {state['seed']} over {state['num_samples']} images, this loader is "
                f"seed {self.seed} over {len(self.dataset)}; resume with the same data and seed")
        self.close()
        self.delivered = int(state["delivered"])

    def close(self) -> None:
        """Stop the worker processes (they restart on the next batch)."""
        self._batches = None  # the DataLoader iterator shuts its workers down when collected


class StreamedTrainingSet:
    """A training set read batch by batch, never whole: what the env takes in place of an in-memory
    :class:`recognizer.data.FaceDataset` when ``--stream`` is given. Only the labels (``8 N`` bytes) are held.

    :param spec: an insightface ``train.rec`` (``train.idx`` beside it) or an identity-folder tree.
    :param image_size: side ``S`` of the decoded images, a positive multiple of 8.
    :param color: ``"rgb"``, ``"gray"`` or ``"auto"`` (gray when the first image is single-channel, else RGB).
    :param num_workers: decoding processes of the loaders :meth:`loader` builds.
    """

    def __init__(self, spec: str | Path, image_size: int = 112, color: str = "auto", num_workers: int = 2) -> None:
        if num_workers < 0:
            raise DataError(f"data workers must be >= 0, not {num_workers}")
        faces = open_encoded_faces(spec)
        if color == "auto":
            first = cv2.imdecode(np.frombuffer(faces[0][0], dtype=np.uint8), cv2.IMREAD_UNCHANGED)
            color = "gray" if first is not None and first.ndim == 2 else "rgb"
        self.dataset = StreamingFaceDataset(faces, image_size, color)
        self.labels = torch.from_numpy(faces.labels())
        if int(self.labels.min()) < 0:
            raise DataError(f"'{spec}' has a negative identity label {int(self.labels.min())}")
        self.num_workers = num_workers

    @property
    def num_identities(self) -> int:
        """Identities ``K`` (labels run 0..K-1)."""
        return int(self.labels.max()) + 1

    @property
    def image_channels(self) -> int:
        """``C``: 3 for RGB, 1 for gray."""
        return 3 if self.dataset.color == "rgb" else 1

    @property
    def image_size(self) -> int:
        """Image side ``S`` in pixels."""
        return self.dataset.image_size

    def __len__(self) -> int:
        return len(self.dataset)

    def take(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(uint8 (n, C, S, S), int64 (n,))`` decoded here, in this process (for the env's small fixed probe)."""
        images = torch.stack([self.dataset[int(i)][0] for i in indices])
        return images, self.labels[indices]

    def loader(self, batch_size: int, seed: int, sampler: str) -> StreamingLoader:
        """A :class:`StreamingLoader` of batches of ``batch_size`` in the stream order of ``seed``, each epoch ordered
        as ``sampler`` says (:mod:`recognizer.sampling`)."""
        check_sampler(sampler)
        balance = self.labels.numpy() if sampler == "balanced" else None
        return StreamingLoader(self.dataset, batch_size, seed, num_workers=self.num_workers, balance=balance)
