"""Pictures of what the attacks recovered, every output framed by the judge's verdict (green: the pretrained judge
names the private identity of its column; red: it does not).

- One run (``freqmix evaluate``): ``privacy[_<budget>].png``, the private faces and every pictured attack's output
  beside them; the same faces and verdicts as arrays in ``privacy[_<budget>].npz``, from which
- a comparison (``freqmix compare``) draws ``compare_gallery.png``: the same private faces under every defense, each
  as that defense's strongest pictured attack recovers it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attacks.privacy import sample_label
from attacks.registry import ATTACKS

NAMED, MISSED = "tab:green", "tab:red"
VERDICT_LEGEND = ("frame: green = the judge (dlib) names the identity of the column's private face, red = it does not "
                  "(a reconstruction of a mix\nmay show a partner instead; recon-id counts the best-matching face "
                  "of the mix)")
_VERDICT = "verdict:"  # prefix of a row's verdicts among the arrays of the .npz


@dataclass(frozen=True)
class GalleryRow:
    """One defense in the gallery: its label, its strongest pictured attack's faces (S, P, H, W) 0..255 in the
    private faces' order, and the judge's verdict on each (S,) bool."""

    label: str
    faces: torch.Tensor
    verdicts: np.ndarray


def _draw(ax: Axes, image: torch.Tensor, verdict: bool | None = None) -> None:
    """One face (P, H, W) 0..255 in ``ax``, framed by ``verdict`` (None: no frame)."""
    array = image.float().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    ax.imshow(array.squeeze(-1) if array.shape[-1] == 1 else array, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(verdict is not None)
        if verdict is not None:
            spine.set_edgecolor(NAMED if verdict else MISSED)
            spine.set_linewidth(3)


def _label_row(ax: Axes, label: str) -> None:
    """A row's label above its first face, left out of the layout so that it widens no column."""
    ax.text(0, 1.04, label, transform=ax.transAxes, fontsize=7, va="bottom", in_layout=False)


def save_samples(samples: dict[str, torch.Tensor], verdicts: dict[str, np.ndarray], path: Path, title: str) -> None:
    """One row per sample row (in ``samples``' order: private faces, reconstructions, identities, inversions), one
    column per face; an attack's outputs framed by its ``verdicts``."""
    cols = max(len(v) for v in samples.values())
    fig = Figure(figsize=(1.2 * cols, 1.5 * len(samples) + 0.6), layout="constrained")
    axes = fig.subplots(len(samples), cols, squeeze=False)
    for r, (name, images) in enumerate(samples.items()):
        for c in range(cols):
            ax = axes[r, c]
            if c < len(images):
                _draw(ax, images[c], verdicts[name][c] if name in verdicts else None)
            else:
                ax.axis("off")
        _label_row(axes[r, 0], sample_label(name))
    fig.suptitle(f"{title}\n{VERDICT_LEGEND}", fontsize=8)
    fig.savefig(path, dpi=100)


def save_faces(samples: dict[str, torch.Tensor], verdicts: dict[str, np.ndarray], path: Path) -> None:
    """The pictured faces (0..255, as uint8) and verdicts as arrays in ``path`` (``.npz``), rows in order."""
    arrays = {name: images.float().clamp(0, 255).round().byte().numpy() for name, images in samples.items()}
    np.savez_compressed(path, **arrays, **{_VERDICT + name: v for name, v in verdicts.items()})


def load_faces(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """(samples, verdicts) that :func:`save_faces` wrote to ``path``."""
    with np.load(path) as saved:
        samples = {name: torch.from_numpy(saved[name]) for name in saved.files if not name.startswith(_VERDICT)}
        verdicts = {name[len(_VERDICT):]: saved[name] for name in saved.files if name.startswith(_VERDICT)}
    return samples, verdicts


def gallery_row(defense: str, results: dict[str, Any], samples: dict[str, torch.Tensor],
                verdicts: dict[str, np.ndarray]) -> GalleryRow:
    """``defense``'s row: the pictured reconstruction attack with the highest SSIM in ``results`` (an equal
    black-box one never before a white-box one)."""
    recon = results["reconstruction"]
    pictured = [name for name in ATTACKS.names() if name in samples and name in recon]
    best = max(recon[name]["ssim_best"] for name in pictured)
    name = min((n for n in pictured if recon[n]["ssim_best"] == best), key=lambda n: ATTACKS.get(n).black_box)
    return GalleryRow(f"{defense}: {ATTACKS.get(name).label}, SSIM {best:.3f}", samples[name], verdicts[name])


def save_gallery(targets: torch.Tensor, rows: list[GalleryRow], path: Path, title: str) -> None:
    """The private faces ``targets`` (S, P, H, W) on top, then one row per defense."""
    cols = len(targets)
    fig = Figure(figsize=(1.2 * cols, 1.5 * (len(rows) + 1) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows) + 1, cols, squeeze=False)
    for c in range(cols):
        _draw(axes[0, c], targets[c])
    _label_row(axes[0, 0], sample_label("target"))
    for r, row in enumerate(rows, start=1):
        for c in range(cols):
            _draw(axes[r, c], row.faces[c], bool(row.verdicts[c]))
        _label_row(axes[r, 0], row.label)
    fig.suptitle(f"{title}\n{VERDICT_LEGEND}", fontsize=8)
    fig.savefig(path, dpi=100)
