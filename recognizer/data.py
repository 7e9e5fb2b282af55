"""Face data sets by name or path: identity folders, insightface RecordIO, synthetic faces (rendered by
recognizer.synthetic) and scikit-learn's fetchers, behind the one entry point :func:`load_dataset`.

Every loader returns a :class:`recognizer.faces.FaceDataset` of ``uint8 (N, C, S, S)`` images.
"""

from __future__ import annotations

import socket
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch

from recognizer.faces import DataError, FaceDataset, check_color, check_image_size
from recognizer.image_files import load_identity_folders, resize_face, stack_chw
from recognizer.insightface_io import load_record_dataset
from recognizer.synthetic import identity_params, render_identity

SKLEARN_DATASETS = ("olivetti", "lfw")


def synthetic_faces(
    num_identities: int = 20,
    images_per_identity: int = 10,
    image_size: int = 112,
    seed: int = 0,
    color: bool = False,
) -> FaceDataset:
    """Generated cartoon faces: the embedded default dataset (no download).

    Each identity has its own face (shape, skin and hair tone, eyes, brows, nose, mouth, skin texture) drawn from
    its own generator; each image varies pose, expression and lighting a little. Identity ``k`` depends only on
    ``seed`` and ``k``, so a smaller ``num_identities`` gives a prefix of a larger one.

    :return: images ``uint8 (num_identities * images_per_identity, 1 or 3, image_size, image_size)``, names
        ``synthetic_000``..., paths ``""``.
    """
    check_image_size(image_size)
    if num_identities < 2 or images_per_identity < 1:
        raise DataError(
            f"synthetic_faces needs num_identities >= 2 and images_per_identity >= 1, got {num_identities} and "
            f"{images_per_identity}"
        )
    channels = 3 if color else 1
    blocks = []
    for ss in np.random.SeedSequence(seed).spawn(num_identities):
        identity_ss, image_ss = ss.spawn(2)
        params = identity_params(np.random.default_rng(identity_ss))
        blocks.append(
            render_identity(params, np.random.default_rng(image_ss), images_per_identity, image_size, channels)
        )
    n = num_identities * images_per_identity
    return FaceDataset(
        images=torch.from_numpy(np.concatenate(blocks)),
        labels=torch.arange(num_identities, dtype=torch.int64).repeat_interleave(images_per_identity),
        names=[f"synthetic_{k:03d}" for k in range(num_identities)],
        paths=[""] * n,
    )


def fetch_sklearn(name: str, image_size: int = 112, color: str = "auto") -> FaceDataset:
    """Olivetti faces (40 ids, gray) or LFW people (≥ 20 images per person, RGB) through scikit-learn's fetchers.

    Downloads into scikit-learn's data home on first use; with no internet raises :class:`DataError`.

    :param color: ``"auto"`` keeps each dataset's own (Olivetti gray, LFW RGB); ``"gray"``/``"rgb"`` convert.
    :return: images ``uint8 (N, C, image_size, image_size)``, paths ``""``.
    """
    check_image_size(image_size)
    check_color(color)
    if name not in SKLEARN_DATASETS:
        raise DataError(f"unknown scikit-learn dataset '{name}'; use one of {', '.join(SKLEARN_DATASETS)}")
    import sklearn.datasets  # deferred: importing scikit-learn costs a second, and most runs never get here

    fetch = {
        "olivetti": sklearn.datasets.fetch_olivetti_faces,
        "lfw": partial(sklearn.datasets.fetch_lfw_people, min_faces_per_person=20, color=color != "gray", resize=1.0),
    }[name]
    # urllib waits forever on a network that drops packets; bound each socket operation instead.
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Retry downloading")
            bunch = fetch()
    except Exception as exc:  # noqa: BLE001 - the fetchers raise URLError, HTTPError, OSError, ... when offline
        reason = (str(exc).splitlines() or [""])[0]
        raise DataError(
            f"could not download the scikit-learn '{name}' faces ({type(exc).__name__}: {reason}); no internet? "
            "pass a local folder with --data PATH"
        ) from exc
    finally:
        socket.setdefaulttimeout(previous_timeout)

    pixels = np.asarray(bunch.images, dtype=np.float32)
    if pixels.max() <= 1.0:  # Olivetti (and older LFW fetchers) scale to 0..1
        pixels = pixels * 255.0
    pixels = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    images = [resize_face(img, image_size, f"{name}[{i}]") for i, img in enumerate(pixels)]
    labels = np.asarray(bunch.target, dtype=np.int64)
    names = (
        [str(n) for n in bunch.target_names]
        if "target_names" in bunch
        else [f"{name}_{k:02d}" for k in range(int(labels.max()) + 1)]
    )
    return FaceDataset(
        images=torch.from_numpy(stack_chw(images, color, f"scikit-learn '{name}'")),
        labels=torch.from_numpy(labels),
        names=names,
        paths=[""] * len(images),
    )


def load_dataset(
    spec: str | Path,
    image_size: int = 112,
    color: str = "auto",
    seed: int = 0,
    min_images: int = 2,
    drop_small: bool = False,
) -> FaceDataset:
    """One entry point: ``"synthetic"``, ``"olivetti"``, ``"lfw"``, a folder ``ROOT/<identity>/<image>``, or an
    insightface ``PATH/train.rec`` (with ``train.idx`` beside it; decoded RGB unless ``color="gray"``).

    The names win over a folder of the same name in the working directory; write ``./synthetic`` for the folder.
    ``seed`` only affects ``"synthetic"`` (gray unless ``color="rgb"``).
    """
    if spec == "synthetic":
        check_color(color)
        return synthetic_faces(image_size=image_size, seed=seed, color=color == "rgb")
    if spec in SKLEARN_DATASETS:
        return fetch_sklearn(str(spec), image_size=image_size, color=color)
    if not Path(spec).exists():
        raise DataError(
            f"data path '{spec}' does not exist; pass a folder ROOT/<identity>/<image>.jpg, a PATH/train.rec "
            f"or one of 'synthetic', {', '.join(map(repr, SKLEARN_DATASETS))}"
        )
    if Path(spec).suffix == ".rec":
        check_color(color)
        return load_record_dataset(spec, image_size=image_size, color="gray" if color == "gray" else "rgb")
    return load_identity_folders(spec, image_size=image_size, color=color, min_images=min_images,
                                 drop_small=drop_small)
