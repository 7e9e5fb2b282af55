"""insightface formats without MXNet: RecordIO .rec/.idx written here by MXNet's record layout, and .bin sets."""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from recognizer.data import synthetic_faces
from recognizer.accuracy import insightface_verification
from recognizer.insightface_io import (
    RECORD_MAGIC, InsightfaceFormatError, RecordFile, RecordImageSet, UnsafePickleError, load_bin,
    load_record_dataset, pack_image_record, write_records,
)

MAGIC_BYTES = struct.pack("<I", RECORD_MAGIC)


def write_recordio(rec: Path, payloads: dict[int, bytes]) -> None:
    """MXNet's RecordIO writer (dmlc-core RecordIOWriter::WriteRecord): magic, lrecord = flag << 29 | length, data,
    zero padding to 4 bytes; a payload holding the magic at a 4-byte boundary is split there (flags 1, 2, 3)."""
    index_lines = []
    with open(rec, "wb") as f:
        for key, data in payloads.items():
            index_lines.append(f"{key}\t{f.tell()}\n")
            start = 0
            for i in range(0, len(data) - len(data) % 4, 4):
                if data[i:i + 4] == MAGIC_BYTES:
                    f.write(MAGIC_BYTES + struct.pack("<I", (1 if start == 0 else 2) << 29 | (i - start)))
                    f.write(data[start:i])
                    start = i + 4
            f.write(MAGIC_BYTES + struct.pack("<I", (3 if start else 0) << 29 | (len(data) - start)))
            f.write(data[start:] + b"\0" * (-(len(data) - start) % 4))
    rec.with_suffix(".idx").write_text("".join(index_lines))


def image_record(label: float | list[float], encoded: bytes) -> bytes:
    """MXNet's recordio.pack: IRHeader ``IfQQ`` (flag, label, id, id2), then float32 labels when flag > 0."""
    if isinstance(label, list):
        return struct.pack("IfQQ", len(label), 0.0, 0, 0) + np.asarray(label, "<f4").tobytes() + encoded
    return struct.pack("IfQQ", 0, label, 0, 0) + encoded


def _png(image_chw: torch.Tensor) -> bytes:
    rgb = image_chw.permute(1, 2, 0).numpy()
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=3, images_per_identity=4, image_size=16, seed=1, color=True)


def test_record_without_header_loads_every_key(tmp_path, faces) -> None:
    rec = tmp_path / "train.rec"
    write_recordio(rec, {i: image_record(float(faces.labels[i]), _png(faces.images[i])) for i in range(len(faces))})
    ds = load_record_dataset(rec, image_size=16)
    assert torch.equal(ds.images, faces.images) and torch.equal(ds.labels, faces.labels)
    assert ds.names == ["id_0", "id_1", "id_2"] and ds.paths[5] == f"{rec}#5"


def test_record_with_header_uses_its_image_range_and_array_labels(tmp_path, faces) -> None:
    n = len(faces)
    payloads = {0: image_record([n + 1.0, n + 4.0], b"")}  # MXFaceDataset's header: images are keys 1..n
    payloads.update({i + 1: image_record([float(faces.labels[i]), 7.0], _png(faces.images[i])) for i in range(n)})
    # insightface sets end with one record per identity (its image key range); they are not images.
    payloads.update({n + 1 + k: image_record([1.0 + 4 * k, 5.0 + 4 * k], b"") for k in range(3)})
    write_recordio(tmp_path / "train.rec", payloads)
    images = RecordImageSet(tmp_path / "train.rec")
    assert images.image_keys == list(range(1, n + 1))
    assert images.labels().tolist() == faces.labels.tolist()
    ds = load_record_dataset(tmp_path / "train.rec", image_size=8, color="gray")
    assert ds.images.shape == (n, 1, 8, 8) and torch.equal(ds.labels, faces.labels)


def test_a_payload_holding_the_magic_is_split_and_joined(tmp_path) -> None:
    payload = b"abcd" + MAGIC_BYTES + b"efgh" + MAGIC_BYTES + b"xyz"  # two aligned magics: start, middle, end parts
    write_recordio(tmp_path / "r.rec", {0: b"plain", 3: payload, 9: b""})
    assert (tmp_path / "r.rec").read_bytes().count(MAGIC_BYTES) == 5  # 3 records, the split one in 3 parts
    records = RecordFile(tmp_path / "r.rec")
    assert [records.read(k) for k in (9, 3, 0)] == [b"", payload, b"plain"]


def test_library_writer_writes_what_mxnets_layout_says(tmp_path) -> None:
    payloads = {0: image_record([3.0, 9.0], b""), 1: image_record(2.0, b"jpeg" + MAGIC_BYTES + b"tail"),
                7: image_record([4.0, 0.5], b"\xff\xd8")}
    write_recordio(tmp_path / "reference.rec", payloads)
    write_records(tmp_path / "library.rec", [(0, pack_image_record([3.0, 9.0], b"")),
                                             (1, pack_image_record(np.float32(2.0), b"jpeg" + MAGIC_BYTES + b"tail")),
                                             (7, pack_image_record((4.0, 0.5), b"\xff\xd8"))])
    for suffix in (".rec", ".idx"):
        assert (tmp_path / f"library{suffix}").read_bytes() == (tmp_path / f"reference{suffix}").read_bytes()


def test_bad_record_files_say_what_is_wrong(tmp_path) -> None:
    with pytest.raises(InsightfaceFormatError, match="train.idx beside it"):
        RecordFile(tmp_path / "none.rec")
    write_recordio(tmp_path / "r.rec", {0: b"x" * 40})
    (tmp_path / "r.idx").write_text("0\t4\n")
    with pytest.raises(InsightfaceFormatError, match="does not belong to this .rec"):
        RecordFile(tmp_path / "r.rec").read(0)
    (tmp_path / "r.rec").write_bytes((tmp_path / "r.rec").read_bytes()[:20])
    (tmp_path / "r.idx").write_text("0\t0\n")
    with pytest.raises(InsightfaceFormatError, match="truncated"):
        RecordFile(tmp_path / "r.rec").read(0)


def _write_bin(path: Path, faces, protocol: int) -> tuple[list[bool], list[tuple[int, int]]]:
    """Pairs (0,1) same, (0,4) different, ...: bytes of PNGs and bools pickled as insightface's .bin."""
    index_pairs = [(0, 1), (0, 4), (4, 5), (5, 9), (8, 11), (2, 10)] * 2
    issame = [bool(faces.labels[i] == faces.labels[j]) for i, j in index_pairs]
    bins = [_png(faces.images[i]) for pair in index_pairs for i in pair]
    path.write_bytes(pickle.dumps((bins, issame), protocol=protocol))
    return issame, index_pairs


@pytest.mark.parametrize("protocol", [2, 4])
def test_bin_loads_in_file_order_and_verifies(tmp_path, faces, protocol) -> None:
    issame, index_pairs = _write_bin(tmp_path / "lfw.bin", faces, protocol)
    pairs = load_bin(tmp_path / "lfw.bin", image_size=16)
    assert pairs.same.tolist() == issame and len(pairs) == 12
    assert torch.equal(pairs.images_a, faces.images[[i for i, _ in index_pairs]])
    assert torch.equal(pairs.images_b, faces.images[[j for _, j in index_pairs]])
    assert pairs.fold.tolist() == [0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]  # KFold(10) in file order: 12 = 2+2+1*8
    # Identity one-hot embeddings separate the pairs perfectly: insightface's protocol must say so.
    result = insightface_verification(torch.eye(3)[faces.labels[[i for i, _ in index_pairs]]],
                                      torch.eye(3)[faces.labels[[j for _, j in index_pairs]]], pairs.same)
    assert result["accuracy"] == 1.0 and result["val_at_far"][1e-3]["val"] == 1.0


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_bin_with_a_reduce_payload_is_refused_in_one_line(tmp_path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.bin").write_bytes(pickle.dumps(([b"x", _Payload(marker)], [True])))
    with pytest.raises(UnsafePickleError, match=r"refused .*evil.bin': its pickle asks to build '(posix|os)\.system'"
                       ) as info:
        load_bin(tmp_path / "evil.bin")
    assert "\n" not in str(info.value) and not marker.exists()
    # Objects without code are refused too: a numpy array needs numpy's reconstructor.
    (tmp_path / "array.bin").write_bytes(pickle.dumps(([np.zeros(3)] * 2, [True])))
    with pytest.raises(UnsafePickleError, match="numpy"):
        load_bin(tmp_path / "array.bin")


def test_bin_that_is_not_a_verification_set_says_so(tmp_path) -> None:
    (tmp_path / "odd.bin").write_bytes(pickle.dumps(([b"a", b"b", b"c"], [True])))
    with pytest.raises(InsightfaceFormatError, match="3 images for 1 pairs"):
        load_bin(tmp_path / "odd.bin")
    (tmp_path / "junk.bin").write_bytes(b"not a pickle")
    with pytest.raises(InsightfaceFormatError, match="not a readable pickle"):
        load_bin(tmp_path / "junk.bin")
