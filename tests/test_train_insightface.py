"""`freqmix train --data x.rec --val y.bin` end to end: a RecordIO training set and .bin verification sets built here,
results under val_sets.<stem> equal to insightface's protocol on the saved recognizer; streamed training resumes
bit-exactly; verification runs in the pairs' own folds."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from freqmix.cli import main
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.reporting import measure_utility
from freqmix.experiment.task import Task
from mixup_env.frequency import FrequencyTransform
from recognizer.data import load_dataset, synthetic_faces
from recognizer.accuracy import insightface_verification, verification
from recognizer.faces import PairSet
from recognizer.insightface_io import InsightfaceFormatError, load_bin, pack_image_record, write_bin, write_records
from recognizer.pairs import make_pairs
from recognizer.trainer import Recognizer

SIZE = 32


def _png(image_chw: torch.Tensor) -> bytes:
    return cv2.imencode(".png", image_chw.permute(1, 2, 0).numpy())[1].tobytes()


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=4, images_per_identity=8, image_size=SIZE, seed=3)


@pytest.fixture(scope="module")
def insightface_files(tmp_path_factory, faces) -> tuple[Path, Path, Path]:
    """``train.rec`` (with insightface's header record: label[0] one past the last image key) and two .bin sets."""
    root = tmp_path_factory.mktemp("ms1m")
    n = len(faces)
    records = [(0, pack_image_record([float(n + 1), float(n + 1 + faces.num_identities)], b""))]
    records += [(i + 1, pack_image_record(float(faces.labels[i]), _png(faces.images[i]))) for i in range(n)]
    write_records(root / "train.rec", records)
    bins = []
    for name, seed in (("lfw", 0), ("agedb_30", 1)):
        pairs = make_pairs(faces, 20, seed=seed)
        encoded = [_png(img) for a, b in zip(pairs.images_a, pairs.images_b) for img in (a, b)]
        write_bin(root / f"{name}.bin", encoded, pairs.same.tolist())
        bins.append(root / f"{name}.bin")
    return root / "train.rec", bins[0], bins[1]


def test_rec_loads_as_the_images_it_was_written_from(insightface_files, faces) -> None:
    rec, _, _ = insightface_files
    loaded = load_dataset(rec, image_size=SIZE, color="gray")
    assert torch.equal(loaded.images, faces.images) and torch.equal(loaded.labels, faces.labels)


def test_written_bin_loads_back_as_its_pairs(tmp_path, faces) -> None:
    pairs = make_pairs(faces, 12, seed=2)
    encoded = [_png(img) for a, b in zip(pairs.images_a, pairs.images_b) for img in (a, b)]
    write_bin(tmp_path / "x.bin", encoded, pairs.same.tolist())
    loaded = load_bin(tmp_path / "x.bin", image_size=SIZE, color="gray")
    assert torch.equal(loaded.images_a, pairs.images_a) and torch.equal(loaded.images_b, pairs.images_b)
    assert torch.equal(loaded.same, pairs.same)
    with pytest.raises(InsightfaceFormatError, match="3 images for 1 pairs; give two per pair"):
        write_bin(tmp_path / "odd.bin", encoded[:3], [True])


def test_train_on_rec_with_two_val_sets_reports_insightface_protocol(tmp_path, insightface_files) -> None:
    rec, lfw, agedb = insightface_files
    out = tmp_path / "run"
    code = main(["train", "--data", str(rec), "--val", str(lfw), "--val", str(agedb), "--image-size", str(SIZE),
                 "--steps", "6", "--batch-size", "8", "--embedding-dim", "16", "--no-progress", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["val_sets"]) == {"lfw", "agedb_30"}
    config = TrainConfig.from_json((out / "config.json").read_text())
    recognizer = Recognizer.load(out / "recognizer.pt")
    transform = FrequencyTransform.from_config(3, config.transform)
    for stem, path in (("lfw", lfw), ("agedb_30", agedb)):
        pairs = load_bin(path, image_size=SIZE)
        expected = insightface_verification(recognizer.embed(transform(pairs.images_a)),
                                            recognizer.embed(transform(pairs.images_b)), pairs.same)
        got = metrics["val_sets"][stem]
        assert got["pairs"] == 20
        assert got["accuracy"] == pytest.approx(expected["accuracy"])
        assert got["accuracy_std"] == pytest.approx(expected["accuracy_std"])
        assert got["val_at_far_insightface"]["0.001"]["val"] == pytest.approx(expected["val_at_far"][1e-3]["val"])
        assert set(got["tar_at_far_pooled"]) == {"0.01", "0.001"}


def test_rec_without_its_idx_fails_in_one_line_before_writing(tmp_path, insightface_files, capsys) -> None:
    rec, _, _ = insightface_files
    lonely = tmp_path / "lonely.rec"
    lonely.write_bytes(rec.read_bytes())
    out = tmp_path / "run"
    assert main(["train", "--data", str(lonely), "--steps", "2", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("freqmix: error: RecordIO index") and "lonely.idx" in err and "\n" not in err
    assert not (out / "config.json").exists()


def test_two_val_sets_of_one_stem_are_refused(tmp_path, insightface_files, capsys) -> None:
    rec, lfw, _ = insightface_files
    (tmp_path / "other").mkdir()
    twin = tmp_path / "other" / "lfw.bin"
    twin.write_bytes(lfw.read_bytes())
    assert main(["train", "--data", str(rec), "--val", str(lfw), "--val", str(twin), "--steps", "2",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 2
    assert "two --val sets are named 'lfw'" in capsys.readouterr().err


def test_streamed_run_resumes_bit_exactly(tmp_path, insightface_files) -> None:
    rec, lfw, _ = insightface_files
    common = ["--data", str(rec), "--stream", "--data-workers", "1", "--val", str(lfw), "--image-size", str(SIZE),
              "--steps", "10", "--batch-size", "8", "--embedding-dim", "16", "--agent", "random", "--no-progress"]
    assert main(["train", *common, "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", *common, "--stop-at", "4", "--out", str(tmp_path / "split")]) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--no-progress"]) == 0
    whole = (tmp_path / "whole" / "steps.csv").read_text()
    assert (tmp_path / "split" / "steps.csv").read_text() == whole
    # 10 steps of 8 over 32 images: the stream crosses two epoch boundaries.
    assert [line.split(",")[1] for line in whole.splitlines()[1:]] == ["0"] * 4 + ["1"] * 4 + ["2"] * 2
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert metrics["identification_accuracy"] is None and "lfw" in metrics["val_sets"]


def test_stream_without_a_measure_is_refused(tmp_path, insightface_files, capsys) -> None:
    rec, _, _ = insightface_files
    assert main(["train", "--data", str(rec), "--stream", "--steps", "2", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 2
    assert "give --val FILE.bin or --pairs FILE" in capsys.readouterr().err


def test_verification_uses_the_pairs_folds_and_names_both_tar_figures(faces) -> None:
    recognizer = Recognizer(64, faces.num_identities, embedding_dim=8, seed=0)
    transform = FrequencyTransform(1)
    pairs = make_pairs(faces, 40, seed=0)
    # Four balanced folds, not make_pairs' own ten: here they give 0.575, shuffled ten-fold KFold 0.625.
    pairs = PairSet(pairs.images_a, pairs.images_b, pairs.same, torch.arange(40) % 4)
    metrics = measure_utility(recognizer, transform, Task(faces, faces, pairs, "test pairs"))
    emb_a, emb_b = recognizer.embed(transform(pairs.images_a)), recognizer.embed(transform(pairs.images_b))
    expected = verification(emb_a, emb_b, pairs.same, fold=pairs.fold)
    assert metrics["verification_accuracy"] == expected["accuracy"] == 0.575
    assert verification(emb_a, emb_b, pairs.same)["accuracy"] != expected["accuracy"]
    assert metrics["tar_at_far_pooled"] == {str(k): v for k, v in expected["tar_at_far"].items()}
    assert metrics["val_at_far_insightface"] == {str(k): v for k, v in expected["val_at_far_insightface"].items()}
    assert "tar_at_far" not in metrics
    assert np.isfinite(metrics["identification_accuracy"])
