"""Where dlib's three public-domain face models live: the ``face-recognition-models`` package.

Only these three files are used; the package's 68-point landmark model is never loaded
(its training data, iBUG 300-W, forbids commercial use). The files can also be imported
by hand into the weights cache (``models import dlib-resnet FILE``); the cache copy wins.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MMOD_FILE = "mmod_human_face_detector.dat"
SHAPE5_FILE = "shape_predictor_5_face_landmarks.dat"
PACKAGE = "face_recognition_models"
PUBLIC_DOMAIN = "Public domain (CC0 1.0), Davis E. King"


def package_dir() -> Path | None:
    """The ``models`` folder of face-recognition-models, or None when it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if folder.is_dir() else None


def packaged_file(filename: str) -> Path | None:
    """``filename`` inside the package, or None."""
    folder = package_dir()
    if folder is None:
        return None
    path = folder / filename
    return path if path.is_file() else None
