"""insightface's data formats without MXNet: RecordIO training sets (``train.rec`` + ``train.idx``) and the pickled
``.bin`` verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin).

RecordIO (dmlc-core ``recordio.h``): each record is ``uint32 magic 0xced7230a``, ``uint32 lrecord`` (upper 3 bits a
continuation flag, lower 29 bits the length), the payload, zero padding to a multiple of 4 bytes. A payload longer
than one record, or holding the magic at a 4-byte boundary, is split into parts (flag 1 start, 2 middle, 3 end)
joined by the magic. ``train.idx`` lines are ``key<TAB>byte offset``. A payload is MXNet's image record: the
``IRHeader`` struct ``IfQQ`` (flag, label, id, id2), ``flag`` float32 labels when ``flag > 0``, then the encoded
image. insightface's ``MXFaceDataset``: when record 0's header has ``flag > 0`` its first label is one past the
last image key (images are keys 1..label[0]-1); otherwise every key of the index is an image.

A ``.bin`` is a pickle of ``(list of encoded images, list of bools)``, image ``2i`` and ``2i + 1`` forming pair ``i``.
Unpickling an arbitrary pickle runs code, so :func:`load_bin` admits only bytes, lists, tuples, bools and numbers.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from recognizer.faces import DataError, FaceDataset, PairSet

__all__ = [
    "RECORD_MAGIC",
    "IR_FORMAT",
    "InsightfaceFormatError",
    "UnsafePickleError",
    "RecordFile",
    "ImageRecord",
    "unpack_image_record",
    "pack_image_record",
    "write_records",
    "RecordImageSet",
    "decode_image",
    "load_record_dataset",
    "load_bin",
    "write_bin",
]

RECORD_MAGIC = 0xCED7230A
IR_FORMAT = "IfQQ"  # MXNet's IRHeader: uint32 flag, float32 label, uint64 id, uint64 id2
IR_SIZE = struct.calcsize(IR_FORMAT)
_LENGTH_MASK = (1 << 29) - 1
_FULL, _START, _MIDDLE, _END = 0, 1, 2, 3


class InsightfaceFormatError(DataError):
    """A .rec/.idx/.bin file that is missing, truncated or not in insightface's format."""


class UnsafePickleError(InsightfaceFormatError):
    """A .bin file whose pickle asks to build an object (it could run code); refused before anything is built."""


class RecordFile:
    """Random access to the records of ``train.rec`` through ``train.idx``.

    The file is opened lazily in each process that reads it, so a :class:`RecordFile` can be handed to DataLoader
    worker processes (forked or spawned) without sharing one file offset between them.

    :param rec_path: the ``.rec`` file; ``idx_path`` defaults to the same name ending in ``.idx``.
    """

    def __init__(self, rec_path: str | Path, idx_path: str | Path | None = None) -> None:
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path) if idx_path is not None else self.rec_path.with_suffix(".idx")
        for path, what in ((self.rec_path, "RecordIO file"), (self.idx_path, "RecordIO index")):
            if not path.is_file():
                raise InsightfaceFormatError(
                    f"{what} '{path}' does not exist; insightface sets ship train.rec with train.idx beside it")
        self.offsets = self._read_index()
        self._handle: io.BufferedReader | None = None
        self._pid = -1

    def _read_index(self) -> dict[int, int]:
        offsets: dict[int, int] = {}
        for number, line in enumerate(self.idx_path.read_text(encoding="ascii").splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not all(f.isdigit() for f in fields):
                raise InsightfaceFormatError(
                    f"'{self.idx_path}' line {number} is '{line.strip()}', not 'key<TAB>offset'; is it a RecordIO index?")
            offsets[int(fields[0])] = int(fields[1])
        if not offsets:
            raise InsightfaceFormatError(f"RecordIO index '{self.idx_path}' is empty")
        return offsets

    def keys(self) -> list[int]:
        """Record keys in index order."""
        return list(self.offsets)

    def _file(self) -> io.BufferedReader:
        if self._handle is None or self._pid != os.getpid():
            self._handle = open(self.rec_path, "rb")  # noqa: SIM115 - kept open for the reader's lifetime
            self._pid = os.getpid()
        return self._handle

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None, "_pid": -1}

    def read(self, key: int) -> bytes:
        """The payload of record ``key`` (parts of a split record joined)."""
        if key not in self.offsets:
            raise InsightfaceFormatError(f"record {key} is not in '{self.idx_path}'")
        f = self._file()
        f.seek(self.offsets[key])
        parts: list[bytes] = []
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise InsightfaceFormatError(f"'{self.rec_path}' ends inside record {key}; the file is truncated")
            magic, lrecord = struct.unpack("<II", head)
            if magic != RECORD_MAGIC:
                raise InsightfaceFormatError(
                    f"'{self.rec_path}' has no record at offset {self.offsets[key]} (key {key}); the .idx does not "
                    "belong to this .rec, or it is not a RecordIO file")
            flag, length = lrecord >> 29, lrecord & _LENGTH_MASK
            data = f.read(length)
            if len(data) < length:
                raise InsightfaceFormatError(f"'{self.rec_path}' ends inside record {key}; the file is truncated")
            f.read(-length % 4)
            parts.append(data)
            if flag in (_FULL, _END):
                return struct.pack("<I", RECORD_MAGIC).join(parts)

    def close(self) -> None:
        """Close this process's file handle (reopened on the next read)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


@dataclass(frozen=True)
class ImageRecord:
    """One unpacked MXNet image record.

    :param flag: number of float32 labels after the header (0: the header's one label).
    :param label: ``(max(flag, 1),)`` float32 labels.
    :param image: the encoded image (JPEG/PNG bytes).
    """

    flag: int
    label: np.ndarray
    image: bytes


def unpack_image_record(payload: bytes) -> ImageRecord:
    """Split a record payload into header labels and encoded image, as ``mx.recordio.unpack`` does."""
    if len(payload) < IR_SIZE:
        raise InsightfaceFormatError(f"record of {len(payload)} bytes is shorter than MXNet's {IR_SIZE}-byte header")
    flag, label, _, _ = struct.unpack(IR_FORMAT, payload[:IR_SIZE])
    rest = payload[IR_SIZE:]
    if flag == 0:
        return ImageRecord(0, np.array([label], dtype=np.float32), rest)
    if len(rest) < 4 * flag:
        raise InsightfaceFormatError(f"record header announces {flag} labels but the record is too short for them")
    return ImageRecord(flag, np.frombuffer(rest[: 4 * flag], dtype="<f4").copy(), rest[4 * flag:])


def pack_image_record(label: float | Sequence[float], encoded: bytes) -> bytes:
    """An MXNet image record payload (``mx.recordio.pack``): one float label in the header, or ``flag`` float32
    labels after it."""
    if np.ndim(label) == 0:
        return struct.pack(IR_FORMAT, 0, float(label), 0, 0) + encoded
    labels = np.asarray(label, dtype="<f4")
    return struct.pack(IR_FORMAT, len(labels), 0.0, 0, 0) + labels.tobytes() + encoded


def write_records(rec_path: str | Path, payloads: Iterable[tuple[int, bytes]]) -> None:
    """Write ``(key, payload)`` records to ``rec_path`` and their offsets to the ``.idx`` beside it, in dmlc's
    RecordIO layout (a payload holding the magic at a 4-byte boundary is split there, as dmlc's writer does)."""
    rec_path = Path(rec_path)
    magic = struct.pack("<I", RECORD_MAGIC)
    with open(rec_path, "wb") as rec, open(rec_path.with_suffix(".idx"), "w", encoding="ascii") as idx:
        for key, data in payloads:
            idx.write(f"{key}\t{rec.tell()}\n")
            start = 0
            for i in range(0, len(data) - len(data) % 4, 4):
                if data[i:i + 4] == magic:
                    rec.write(magic + struct.pack("<I", (_START if start == 0 else _MIDDLE) << 29 | (i - start)))
                    rec.write(data[start:i])
                    start = i + 4
            tail = len(data) - start
            rec.write(magic + struct.pack("<I", (_END if start else _FULL) << 29 | tail))
            rec.write(data[start:] + b"\0" * (-tail % 4))


def decode_image(encoded: bytes, image_size: int, color: str = "rgb") -> np.ndarray:
    """``(C, S, S)`` uint8 from an encoded image: decoded by OpenCV, resized as the folder loader does, ``C`` = 3
    for ``"rgb"`` and 1 for ``"gray"``."""
    if color not in ("rgb", "gray"):
        raise InsightfaceFormatError(f"color={color!r}: insightface images decode to 'rgb' or 'gray'")
    flags = cv2.IMREAD_COLOR if color == "rgb" else cv2.IMREAD_GRAYSCALE
    img = cv2.imdecode(np.frombuffer(encoded, dtype=np.uint8), flags)
    if img is None:
        raise InsightfaceFormatError("an image record holds bytes OpenCV cannot decode (not JPEG/PNG)")
    if color == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.shape[:2] != (image_size, image_size):
        # Area averaging is the alias-free way to shrink; linear interpolation to enlarge.
        shrink = min(img.shape[:2]) >= image_size
        img = cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return img[None] if img.ndim == 2 else img.transpose(2, 0, 1)


class RecordImageSet:
    """The labelled images of an insightface ``train.rec``, read on demand: ``(encoded bytes, label)`` per index.

    :param rec_path: ``train.rec`` (``train.idx`` beside it).
    """

    def __init__(self, rec_path: str | Path) -> None:
        self.records = RecordFile(rec_path)
        first = unpack_image_record(self.records.read(self.records.keys()[0]))
        if first.flag > 0:
            # insightface's header record: label[0] is one past the last image key.
            self.image_keys = list(range(1, int(first.label[0])))
        else:
            self.image_keys = self.records.keys()
        if not self.image_keys:
            raise InsightfaceFormatError(f"'{rec_path}' holds no image records")

    def __len__(self) -> int:
        return len(self.image_keys)

    def __getitem__(self, index: int) -> tuple[bytes, int]:
        record = unpack_image_record(self.records.read(self.image_keys[index]))
        # A float-array label carries the identity first (MXFaceDataset takes label[0]).
        return record.image, int(record.label[0])

    def labels(self) -> np.ndarray:
        """``(N,)`` int64 identity per image (reads every record header once)."""
        return np.array([self[i][1] for i in range(len(self))], dtype=np.int64)


def load_record_dataset(rec_path: str | Path, image_size: int = 112, color: str = "rgb") -> FaceDataset:
    """An insightface ``train.rec`` + ``train.idx`` loaded into memory as a :class:`FaceDataset`.

    Identity names are ``id_<label>``; labels are used as stored (0..max). For sets larger than memory use
    :class:`recognizer.streaming.StreamingFaceDataset` instead.

    :return: images ``uint8 (N, C, image_size, image_size)``, paths ``"<rec>#<key>"``.
    """
    if color not in ("rgb", "gray"):
        raise InsightfaceFormatError(f"color={color!r}: insightface images decode to 'rgb' or 'gray'")
    images = RecordImageSet(rec_path)
    decoded, labels = [], []
    for i in range(len(images)):
        encoded, label = images[i]
        decoded.append(decode_image(encoded, image_size, color))
        labels.append(label)
    if min(labels) < 0:
        raise InsightfaceFormatError(f"'{rec_path}' has a negative identity label {min(labels)}")
    return FaceDataset(
        images=torch.from_numpy(np.stack(decoded)),
        labels=torch.tensor(labels, dtype=torch.int64),
        names=[f"id_{k}" for k in range(max(labels) + 1)],
        paths=[f"{rec_path}#{key}" for key in images.image_keys],
    )


# --------------------------------------------------------------------------------------------------------------
# .bin verification sets


def _bytes_from_latin1(text: str, encoding: str) -> bytes:
    """What ``_codecs.encode`` does for the one call protocol 2 uses to pickle ``bytes``, and nothing else."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("a _codecs.encode call that is not the pickled form of bytes")
    return text.encode("latin1")


class _PlainDataUnpickler(pickle.Unpickler):
    """Builds only what needs no class: bytes, str, lists, tuples, dicts, bools, numbers, None.

    Every global (the door to objects and code: ``os.system``, ``numpy`` arrays, any ``__reduce__``) is refused;
    the one exception is ``_codecs.encode``, through which Python 3 pickles ``bytes`` at protocol 2, and then only
    with the arguments that form bytes.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):
            return _bytes_from_latin1
        raise UnsafePickleError(f"{module}.{name}")


def write_bin(path: str | Path, encoded_images: Sequence[bytes], issame: Sequence[bool]) -> None:
    """Write an insightface ``.bin`` verification set: ``encoded_images`` (JPEG/PNG bytes, images ``2i`` and
    ``2i + 1`` forming pair ``i``) and one bool per pair, pickled as plain data that :func:`load_bin` admits."""
    if len(encoded_images) != 2 * len(issame):
        raise InsightfaceFormatError(f"{len(encoded_images)} images for {len(issame)} pairs; give two per pair")
    Path(path).write_bytes(pickle.dumps(([bytes(b) for b in encoded_images], [bool(s) for s in issame]),
                                        protocol=4))


def load_bin(path: str | Path, image_size: int = 112, color: str = "rgb") -> PairSet:
    """An insightface ``.bin`` verification set as a :class:`PairSet`: pairs in file order, ``fold`` the contiguous
    tenths that insightface's unshuffled ``KFold(10)`` makes (the first ``M % 10`` folds one pair longer).

    :raises UnsafePickleError: the pickle asks to build an object instead of holding plain data.
    :return: images ``uint8 (M, C, image_size, image_size)`` decoded as ``color`` (``"rgb"`` or ``"gray"``).
    """
    path = Path(path)
    if not path.is_file():
        raise InsightfaceFormatError(f"verification set '{path}' does not exist")
    try:
        with open(path, "rb") as f:
            content = _PlainDataUnpickler(f, encoding="bytes").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"refused '{path}': its pickle asks to build '{exc}', not plain data; a .bin verification set holds only "
            "image bytes and bools") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise InsightfaceFormatError(f"'{path}' is not a readable pickle ({type(exc).__name__}: {exc})") from None
    if not (isinstance(content, (tuple, list)) and len(content) == 2):
        raise InsightfaceFormatError(f"'{path}' does not hold (images, issame) as insightface's .bin sets do")
    bins, issame = content
    if not (isinstance(bins, (list, tuple)) and isinstance(issame, (list, tuple)) and len(issame) > 0
            and len(bins) == 2 * len(issame)):
        raise InsightfaceFormatError(
            f"'{path}' holds {len(bins) if hasattr(bins, '__len__') else '?'} images for "
            f"{len(issame) if hasattr(issame, '__len__') else '?'} pairs; a .bin has two images per pair")
    if not all(isinstance(b, (bytes, bytearray)) for b in bins) or not all(
            isinstance(s, (bool, int)) for s in issame):
        raise InsightfaceFormatError(f"'{path}' holds something other than encoded images and bools")
    if color not in ("rgb", "gray"):
        raise InsightfaceFormatError(f"color={color!r}: .bin images decode to 'rgb' or 'gray'")
    decoded = [decode_image(bytes(b), image_size, color) for b in bins]
    m = len(issame)
    stacked = np.stack(decoded)
    return PairSet(
        images_a=torch.from_numpy(stacked[0::2].copy()),
        images_b=torch.from_numpy(stacked[1::2].copy()),
        same=torch.tensor([bool(s) for s in issame], dtype=torch.bool),
        fold=torch.from_numpy(np.concatenate(
            [np.full(len(chunk), f) for f, chunk in enumerate(np.array_split(np.arange(m), min(10, m)))])).long(),
    )
