"""Every public face the attacker holds: its auxiliary identities plus any identity folder (``--attacker-faces``),
preprocessed exactly as the private faces (same side, the private data's image planes: gray when they are gray)."""
from __future__ import annotations

from pathlib import Path

import torch

from freqmix_base.errors import FreqmixError
from recognizer.faces import FaceDataset
from recognizer.image_files import load_identity_folders


def attacker_faces(auxiliary: FaceDataset, folder: str | Path | None = None) -> FaceDataset:
    """The auxiliary identities plus the identities of ``folder`` (``ROOT/<identity>/<image>``), read at the
    auxiliary faces' side and planes; the folder's identities get labels after the auxiliary ones (names prefixed
    with the folder's name, so that they stay distinct).

    :param auxiliary: the attacker's faces from the run's own data (the identities the defender does not own).
    :param folder: an identity folder of more public faces, or None for the auxiliary identities alone.
    """
    if folder is None:
        return auxiliary
    if auxiliary.image_size != auxiliary.images.shape[-2]:
        raise FreqmixError(f"attacker faces must be square, got {tuple(auxiliary.images.shape[2:])}")
    color = "gray" if auxiliary.image_channels == 1 else "rgb"
    extra = load_identity_folders(folder, image_size=auxiliary.image_size, color=color, min_images=1)
    prefix = Path(folder).name
    return FaceDataset(images=torch.cat([auxiliary.images, extra.images]),
                       labels=torch.cat([auxiliary.labels, extra.labels + auxiliary.num_identities]),
                       names=list(auxiliary.names) + [f"{prefix}/{name}" for name in extra.names],
                       paths=list(auxiliary.paths) + list(extra.paths))
