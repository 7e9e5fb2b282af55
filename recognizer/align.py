"""Face alignment as insightface does it: five landmarks warped onto the ArcFace 112×112 template.

dlib's HOG detector finds the face, its 68-point model gives the landmarks, and the five points insightface uses
(eye centres, nose tip, mouth corners) are taken from them. A similarity transform (rotation, uniform scale,
translation) fitted by scikit-image maps them onto the template, as insightface's ``face_align.norm_crop`` does.
An image where no face is found is reported, never written unaligned.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage.transform import SimilarityTransform
from tqdm import tqdm

from freqmix_base.errors import FreqmixError
from freqmix_base.progress_bar import progress_bar
from recognizer.dlib_models import face_detector, landmark_predictor

__all__ = [
    "ALIGNED_SIZE",
    "ARCFACE_TEMPLATE",
    "NOT_FOUND_FILE",
    "AlignError",
    "AlignReport",
    "five_points",
    "detect_five_points",
    "warp_to_template",
    "align_face",
    "align_tree",
]

ALIGNED_SIZE = 112
# insightface's arcface_dst (python-package/insightface/utils/face_align.py): pixel (x, y) in the 112×112 crop of
# the left eye, right eye, nose tip, left and right mouth corners, "left" meaning the image's left.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
NOT_FOUND_FILE = "not_found.txt"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".bmp"})
# iBUG 300-W 68-point indices: the image-left eye is 36..41, the image-right eye 42..47, the nose tip 30 and the
# mouth corners 48 and 54.
_LEFT_EYE, _RIGHT_EYE, _NOSE_TIP, _MOUTH_LEFT, _MOUTH_RIGHT = slice(36, 42), slice(42, 48), 30, 48, 54


class AlignError(FreqmixError):
    """Bad alignment arguments (missing source, destination inside the source, ...)."""


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """insightface's five points ``(5, 2)`` (x, y pixels) from iBUG 68-point landmarks ``(68, 2)``:
    eye centres (mean of each eye's six points), nose tip, mouth corners."""
    pts = np.asarray(landmarks68, dtype=np.float64)
    if pts.shape != (68, 2):
        raise AlignError(f"five_points needs 68 (x, y) landmarks, got shape {pts.shape}")
    return np.stack([pts[_LEFT_EYE].mean(0), pts[_RIGHT_EYE].mean(0), pts[_NOSE_TIP], pts[_MOUTH_LEFT],
                     pts[_MOUTH_RIGHT]])


def _pick_face(rects: list, width: int, height: int):  # noqa: ANN202 - dlib.rectangle has no stub
    """The detection that holds the image centre (datasets such as LFW centre the labelled face), largest first;
    the largest detection when none does."""
    cx, cy = width / 2, height / 2
    central = [r for r in rects if r.left() <= cx <= r.right() and r.top() <= cy <= r.bottom()]
    return max(central or rects, key=lambda r: r.width() * r.height())


def detect_five_points(image: np.ndarray, upsample: int = 1) -> np.ndarray | None:
    """The five points ``(5, 2)`` of the face in ``image`` (``(H, W)`` gray or ``(H, W, 3)`` RGB uint8), or None
    when dlib's detector finds no face. ``upsample``: times the detector doubles the image (finds smaller faces)."""
    rects = list(face_detector()(image, upsample))
    if not rects:
        return None
    rect = _pick_face(rects, image.shape[1], image.shape[0])
    shape = landmark_predictor(68)(image, rect)
    return five_points(np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64))


def warp_to_template(image: np.ndarray, points: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """``image`` warped so that ``points`` ``(5, 2)`` land on the ArcFace template; ``(size, size[, 3])`` uint8.

    The template is defined for 112 pixels and scaled for other sizes. Pixels outside the source are black.
    """
    template = ARCFACE_TEMPLATE * (size / ALIGNED_SIZE)
    source = np.asarray(points, dtype=np.float64)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26 deprecates estimate()
        transform = SimilarityTransform.from_estimate(source, template)
    else:
        transform = SimilarityTransform()
        transform = transform if transform.estimate(source, template) else None
    if not transform:
        raise AlignError("the five landmarks are degenerate (collinear or coincident); no similarity fits them")
    return cv2.warpAffine(image, transform.params[:2], (size, size), flags=cv2.INTER_LINEAR, borderValue=0)


def align_face(image: np.ndarray, size: int = ALIGNED_SIZE, upsample: int = 1) -> np.ndarray | None:
    """Detect, find the five points and warp: the aligned ``(size, size[, 3])`` uint8 crop, or None without a face."""
    points = detect_five_points(image, upsample)
    return None if points is None else warp_to_template(image, points, size)


@dataclass
class AlignReport:
    """What :func:`align_tree` did; paths are relative to the source folder.

    :param aligned: images aligned and written in this call.
    :param skipped: images whose output already existed (an earlier, interrupted call wrote them).
    :param not_found: images where no face was found (listed in ``DST/not_found.txt``).
    :param unreadable: files with an image suffix that OpenCV could not decode (listed there too).
    """

    aligned: int = 0
    skipped: int = 0
    not_found: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        """Images with an aligned output in the destination (written now or earlier)."""
        return self.aligned + self.skipped


def _source_images(src: Path) -> Iterator[Path]:
    for path in sorted(src.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not path.name.startswith("."):
            yield path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it, so an interrupted run leaves no half file
    that a resumed run would take for done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_rgb(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def align_tree(src: str | Path, dst: str | Path, size: int = ALIGNED_SIZE, upsample: int = 1,
               progress: bool | None = None) -> AlignReport:
    """Align every image under ``src`` into the same relative path under ``dst`` (3-channel, ``size × size``).

    Resumable: an output that exists is skipped (outputs are written atomically, so an existing one is complete).
    Each image without a face gets one line on stderr and a line in ``dst/not_found.txt`` (rewritten at the end
    with this call's misses, unreadable files marked ``unreadable``); nothing is written for it.

    :param progress: show progress (a bar on a terminal, plain lines elsewhere); None shows it.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise AlignError(f"source '{src}' is not a folder; pass a folder of images, e.g. ROOT/<identity>/<image>.jpg")
    if dst.resolve() == src.resolve() or dst.resolve().is_relative_to(src.resolve()):
        raise AlignError(f"destination '{dst}' is inside the source '{src}'; choose a folder outside it")
    if dst.exists() and not dst.is_dir():
        raise AlignError(f"destination '{dst}' exists and is not a folder")
    if size <= 0 or size % 8:
        raise AlignError(f"size={size} is not a positive multiple of 8 (the block DCT works on 8×8 blocks)")
    face_detector(), landmark_predictor(68)  # a missing dlib fails here, before anything is written
    files = list(_source_images(src))
    if not files:
        raise AlignError(f"source '{src}' holds no images (suffixes {', '.join(sorted(IMAGE_SUFFIXES))})")
    dst.mkdir(parents=True, exist_ok=True)
    report = AlignReport()
    for path in progress_bar(files, desc="aligning", unit="image", disable=progress is False):
        rel = path.relative_to(src)
        out = dst / rel
        if out.exists():
            report.skipped += 1
            continue
        image = _read_rgb(path)
        if image is None:
            report.unreadable.append(rel.as_posix())
            tqdm.write(f"freqmix align: unreadable image {rel.as_posix()}", file=sys.stderr)
            continue
        aligned = align_face(image, size, upsample)
        if aligned is None:
            report.not_found.append(rel.as_posix())
            tqdm.write(f"freqmix align: no face found in {rel.as_posix()}", file=sys.stderr)
            continue
        ok, encoded = cv2.imencode(out.suffix, cv2.cvtColor(aligned, cv2.COLOR_RGB2BGR))
        if not ok:
            raise AlignError(f"OpenCV cannot write '{out.suffix}' files; rename the source or convert it")
        _write_atomically(out, encoded.tobytes())
        report.aligned += 1
    listing = [*report.not_found, *(f"{rel}\tunreadable" for rel in report.unreadable)]
    _write_atomically(dst / NOT_FOUND_FILE, "".join(f"{line}\n" for line in listing).encode())
    return report
