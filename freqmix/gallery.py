"""``compare_gallery.png``: the same private faces under every defense of a comparison, each as that defense's
strongest pictured attack recovers it, framed by the judge's verdict; drawn from the faces each defense's
evaluation saved (``privacy[_<budget>].npz`` beside its ``privacy[_<budget>].json``), so that a resumed or gathered
comparison draws it as one that ran at once does."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from freqmix.evaluate import privacy_paths
from freqmix.face_pictures import gallery_row, load_faces, save_gallery
from freqmix_base.errors import FreqmixError

GALLERY = "compare_gallery.png"


def write_gallery(path: Path, runs: dict[str, Path], budget: str, title: str) -> None:
    """Draw the gallery of ``runs`` (defense -> its evaluated run folder, in the gallery's order; one seed) to
    ``path``. Runs evaluated by versions that saved no faces are left out with a warning (nothing is drawn if none
    saved them); FreqmixError if the runs did not attack the same private faces."""
    targets, rows, unsaved = None, [], []
    for defense, folder in runs.items():
        files = privacy_paths(folder, budget)
        if not files.faces.is_file():
            unsaved.append(defense)
            continue
        samples, verdicts = load_faces(files.faces)
        if targets is None:
            targets = samples["target"]
        elif not torch.equal(targets, samples["target"]):
            raise FreqmixError(f"{files.faces} shows other private faces than the first defense's; a gallery sets "
                               "the defenses of one seed side by side")
        rows.append(gallery_row(defense, json.loads(files.results.read_text()), samples, verdicts))
    if unsaved:
        warnings.warn(f"{path.name} leaves out {', '.join(unsaved)}: evaluated by an older freqmix, which saved no "
                      f"faces (privacy npz); rerun them to draw them", stacklevel=2)
    if targets is not None:
        save_gallery(targets, rows, path, title)
