"""dlib's pretrained face models, from PyPI: the ``dlib-bin`` wheel (the library) and ``face-recognition-models``
(the weights: the ResNet face descriptor, 99.38% on LFW, and the 5- and 68-point landmark predictors).

The weights are found with ``importlib.util.find_spec`` instead of importing ``face_recognition_models``: that
package's ``__init__`` imports ``pkg_resources``, which current setuptools no longer ships. Nothing is downloaded;
a missing package is a :class:`DlibModelError` that says what to install.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from freqmix_base.errors import FreqmixError

MODELS_PACKAGE = "face_recognition_models"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_5_FILE = "shape_predictor_5_face_landmarks.dat"
LANDMARKS_68_FILE = "shape_predictor_68_face_landmarks.dat"
INSTALL_HINT = "pip install dlib-bin face-recognition-models"


class DlibModelError(FreqmixError):
    """dlib or its model files are not installed."""


def dlib_module() -> Any:
    """The imported ``dlib`` module; :class:`DlibModelError` with the install command if it is missing."""
    try:
        import dlib
    except ImportError:
        raise DlibModelError(f"dlib is not installed; {INSTALL_HINT}") from None
    return dlib


def model_path(filename: str) -> Path:
    """Path of one model file of ``face-recognition-models`` (e.g. :data:`DESCRIPTOR_FILE`), without importing it."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DlibModelError(f"the dlib model files are not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise DlibModelError(f"{path} is missing; reinstall with {INSTALL_HINT}")
    return path


@lru_cache(maxsize=None)
def face_descriptor_model() -> Any:
    """dlib's ResNet face descriptor (``face_recognition_model_v1``): 150×150 RGB face chips -> 128-d embeddings."""
    return dlib_module().face_recognition_model_v1(str(model_path(DESCRIPTOR_FILE)))


@lru_cache(maxsize=None)
def landmark_predictor(points: int = 5) -> Any:
    """dlib's ``shape_predictor`` with 5 (eye corners, nose) or 68 (iBUG 300-W) landmarks."""
    files = {5: LANDMARKS_5_FILE, 68: LANDMARKS_68_FILE}
    if points not in files:
        raise DlibModelError(f"dlib ships 5- and 68-point landmark models, not {points}")
    return dlib_module().shape_predictor(str(model_path(files[points])))


@lru_cache(maxsize=None)
def face_detector() -> Any:
    """dlib's HOG + linear SVM frontal face detector (CPU, no weights file needed)."""
    return dlib_module().get_frontal_face_detector()
