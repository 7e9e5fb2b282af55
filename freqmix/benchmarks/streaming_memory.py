"""Peak memory of streaming vs in-memory loading as the data set grows, with the same budget of batches.

``python -m freqmix.benchmarks.streaming_memory --src FOLDER --scales 1 10``: packs FOLDER (identity folders of JPEGs, e.g. a
``freqmix align`` output) into ``train.rec`` files holding every image ``scale`` times, then in a fresh process per
(scale, mode) either streams ``--batches`` batches through :class:`recognizer.streaming.StreamingLoader` or loads the
whole ``.rec`` into memory and draws the same number of batches; prints the peak resident set of the main process
(``VmHWM``) and of the largest worker (``getrusage``, shared pages included), in MiB.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from recognizer.insightface_io import load_record_dataset, pack_image_record, write_records
from recognizer.streaming import ImageFolderFaces, StreamingFaceDataset, StreamingLoader, open_encoded_faces


def pack(src: Path, rec: Path, scale: int) -> int:
    """Write every image of ``src`` ``scale`` times into ``rec`` (with its ``.idx``); returns the image count."""
    faces = ImageFolderFaces(src)
    write_records(rec, ((copy * len(faces) + i, pack_image_record(float(faces[i][1]), faces[i][0]))
                        for copy in range(scale) for i in range(len(faces))))
    return scale * len(faces)


def _largest_child_peak_mib() -> float:
    """Peak resident set of the largest joined child (a worker), pages shared with this process included."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB


def _own_peak_mib() -> float:
    """VmHWM: the peak resident set of this process since it started (``ru_maxrss`` can carry a forking parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _checksum(images: torch.Tensor) -> int:
    # numpy, not torch: torch's uint8 sum now and then allocated ~1 GiB of scratch memory here, swamping the
    # figure this script exists to measure.
    return int(images.numpy().sum(dtype=np.int64))


def measure(rec: Path, mode: str, batches: int, batch_size: int, workers: int) -> dict[str, float]:
    """Draw ``batches`` batches from ``rec`` by ``mode`` (``stream`` or ``memory``); peak RSS in MiB."""
    if mode == "stream":
        loader = StreamingLoader(StreamingFaceDataset(open_encoded_faces(rec)), batch_size, seed=0,
                                 num_workers=workers)
        checksum = sum(_checksum(loader.next_batch()[0]) for _ in range(batches))
        loader.close()  # joins the workers, so their peak is counted under RUSAGE_CHILDREN
    else:
        ds = load_record_dataset(rec)
        order = np.random.default_rng(0).permutation(len(ds))
        checksum = sum(_checksum(ds.images[order[(b * batch_size) % len(ds):][:batch_size]]) for b in range(batches))
    return {"main_mib": _own_peak_mib(), "worker_mib": _largest_child_peak_mib(),
            "checksum": float(checksum)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, help="identity folders of images to pack")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--work", type=Path, default=Path("/tmp/streaming_memory"), help="where the .rec files go")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--measure", nargs=2, metavar=("REC", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1], args.batches, args.batch_size,
                                 args.workers)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{'scale':>5} {'images':>7} {'mode':>6} {'main MiB':>9} {'worker MiB':>10}")
    for scale in args.scales:
        rec = args.work / f"x{scale}.rec"
        count = pack(args.src, rec, scale)
        for mode in ("stream", "memory"):
            out = subprocess.run([sys.executable, "-m", "freqmix.benchmarks.streaming_memory", "--measure", str(rec), mode,
                                  "--batches", str(args.batches), "--batch-size", str(args.batch_size),
                                  "--workers", str(args.workers)], check=True, capture_output=True, text=True)
            peak = json.loads(out.stdout)
            print(f"{scale:>5} {count:>7} {mode:>6} {peak['main_mib']:>9.0f} {peak['worker_mib']:>10.0f}")


if __name__ == "__main__":
    main()
