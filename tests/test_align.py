"""Face alignment: five points from 68 landmarks, the similarity warp, the resumable tree walk, real LFW faces."""
from __future__ import annotations

import argparse
import shutil

import cv2
import numpy as np
import pytest

from freqmix import align_command
from recognizer.align import (
    ARCFACE_TEMPLATE, NOT_FOUND_FILE, AlignError, align_face, align_tree, detect_five_points, five_points,
    warp_to_template,
)


def test_five_points_are_eye_centres_nose_tip_and_mouth_corners() -> None:
    landmarks = np.zeros((68, 2))
    landmarks[36:42] = [[10, 20], [12, 20], [14, 22], [16, 22], [18, 24], [20, 24]]  # mean (15, 22)
    landmarks[42:48] = [[40, 20]] * 6
    landmarks[30], landmarks[48], landmarks[54] = [30, 35], [18, 50], [42, 51]
    assert five_points(landmarks).tolist() == [[15, 22], [40, 20], [30, 35], [18, 50], [42, 51]]
    with pytest.raises(AlignError, match="68"):
        five_points(np.zeros((5, 2)))


def test_warp_brings_the_five_points_onto_the_template() -> None:
    # Gaussian blobs where a rotated (20°), scaled (×1.7), shifted template puts them in a 260×260 image; after
    # the warp each blob's intensity centroid must sit on its template point.
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([30.0, 12.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = ARCFACE_TEMPLATE @ rotation.T + shift
    y, x = np.mgrid[:260, :260]
    blobs = sum(np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * 3.0**2)) for px, py in points)
    aligned = warp_to_template(np.round(255 * blobs).astype(np.uint8), points).astype(np.float64)
    assert aligned.shape == (112, 112)
    ay, ax = np.mgrid[:112, :112]
    for tx, ty in ARCFACE_TEMPLATE:
        near = aligned * (((ax - tx) ** 2 + (ay - ty) ** 2) < 5**2)
        centroid = np.array([(near * ax).sum(), (near * ay).sum()]) / near.sum()
        assert np.abs(centroid - [tx, ty]).max() < 0.25
    with pytest.raises(AlignError, match="degenerate"):
        warp_to_template(aligned, np.zeros((5, 2)))


@pytest.mark.data
def test_aligned_lfw_faces_have_their_landmarks_on_the_template(shared_data) -> None:
    root = shared_data("lfw_subset")
    aligned_errors, resized_errors = [], []
    for path in sorted(root.glob("*/*_0002.jpg")):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        aligned = align_face(image)
        found = detect_five_points(aligned)
        aligned_errors.append(np.linalg.norm(found - ARCFACE_TEMPLATE, axis=1).mean())
        resized = detect_five_points(cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA), upsample=2)
        resized_errors.append(np.linalg.norm(resized - ARCFACE_TEMPLATE, axis=1).mean())
    # Measured: 2.4 px aligned against 14.1 px for the plain resize most loaders do.
    assert len(aligned_errors) == 10 and np.mean(aligned_errors) < 4 and max(aligned_errors) < 6
    assert np.mean(resized_errors) > 10


@pytest.fixture
def small_tree(shared_data, tmp_path):
    """Two LFW faces, a blank image (no face) and a broken JPEG under tmp_path/src."""
    lfw = shared_data("lfw_subset")
    src = tmp_path / "src"
    for name, index in (("Colin_Powell", 1), ("Tony_Blair", 2)):
        (src / name).mkdir(parents=True)
        shutil.copy(lfw / name / f"{name}_{index:04d}.jpg", src / name)
    cv2.imwrite(str(src / "Tony_Blair" / "blank.png"), np.full((120, 120, 3), 128, np.uint8))
    (src / "Tony_Blair" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (src / "notes.txt").write_text("not an image")
    return src


@pytest.mark.data
def test_align_tree_lists_misses_and_resumes(small_tree, tmp_path, capsys) -> None:
    dst = tmp_path / "dst"
    report = align_tree(small_tree, dst, progress=False)
    assert (report.aligned, report.skipped) == (2, 0)
    assert report.not_found == ["Tony_Blair/blank.png"] and report.unreadable == ["Tony_Blair/broken.jpg"]
    assert "no face found in Tony_Blair/blank.png" in capsys.readouterr().err
    assert (dst / NOT_FOUND_FILE).read_text() == "Tony_Blair/blank.png\nTony_Blair/broken.jpg\tunreadable\n"
    written = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    assert written == sorted(["Colin_Powell/Colin_Powell_0001.jpg", NOT_FOUND_FILE, "Tony_Blair/Tony_Blair_0002.jpg"])
    assert cv2.imread(str(dst / "Colin_Powell" / "Colin_Powell_0001.jpg")).shape == (112, 112, 3)

    first = (dst / "Colin_Powell" / "Colin_Powell_0001.jpg").read_bytes()
    (dst / "Tony_Blair" / "Tony_Blair_0002.jpg").unlink()  # as if interrupted before this one
    again = align_tree(small_tree, dst, progress=False)
    assert (again.aligned, again.skipped, again.found) == (1, 1, 2)
    assert (dst / "Colin_Powell" / "Colin_Powell_0001.jpg").read_bytes() == first


def test_align_refuses_bad_folders_before_writing(tmp_path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(AlignError, match="inside the source"):
        align_tree(tmp_path / "src", tmp_path / "src" / "out")
    with pytest.raises(AlignError, match="holds no images"):
        align_tree(tmp_path / "src", tmp_path / "dst")
    with pytest.raises(AlignError, match="is not a folder"):
        align_tree(tmp_path / "missing", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


@pytest.mark.data
def test_align_command_prints_the_counts(small_tree, tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser()
    align_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["align", str(small_tree), str(tmp_path / "out"), "--no-progress"])
    args.func(args)
    assert capsys.readouterr().out.startswith(
        "aligned 2 of 4 images (2 now, 0 already done); no face in 1, unreadable 1 (listed in ")
