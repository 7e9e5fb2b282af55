"""``freqmix align SRC DST``: every face image under SRC warped onto the ArcFace 112×112 five-point template.

Writes ``DST/<same relative path>`` per aligned face and ``DST/not_found.txt`` listing the images without a face
(each also named on stderr). Rerunning the command skips outputs already written, so a large tree can be aligned
across interruptions.
"""
from __future__ import annotations

import argparse
import sys

from recognizer.align import ALIGNED_SIZE, NOT_FOUND_FILE, align_tree


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``freqmix align`` on the ``freqmix`` subparsers."""
    p = sub.add_parser("align", help="detect, landmark and warp faces to the ArcFace 112×112 template",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("src", help="folder of face images, e.g. ROOT/<identity>/<image>.jpg")
    p.add_argument("dst", help="output folder (same layout); existing outputs are kept and skipped")
    p.add_argument("--size", type=int, default=ALIGNED_SIZE, help="output side in pixels (template scaled)")
    p.add_argument("--upsample", type=int, default=1,
                   help="times dlib's detector doubles each image before searching (finds smaller faces, slower)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (hidden anyway without a tty)")
    p.set_defaults(func=_cmd_align)


def _cmd_align(args: argparse.Namespace) -> None:
    report = align_tree(args.src, args.dst, size=args.size, upsample=args.upsample,
                        progress=False if args.no_progress else None)
    total = report.found + len(report.not_found) + len(report.unreadable)
    print(f"aligned {report.found} of {total} images ({report.aligned} now, {report.skipped} already done); "
          f"no face in {len(report.not_found)}, unreadable {len(report.unreadable)}"
          + (f" (listed in {args.dst}/{NOT_FOUND_FILE})" if total > report.found else ""),
          file=sys.stdout)
