"""Finding the installed files of the Faces tab's catalog entries."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2

from engine.features.faces.detectors import FaceModelError

log = logging.getLogger(__name__)


def entry(name: str):
    """The catalog entry called ``name`` (raises UnknownModelError listing the known ones)."""
    from engine.models.catalog import catalog

    return catalog().get(name)


def _cache(cache=None):
    if cache is not None:
        return cache
    from engine.models.cache import default_cache

    return default_cache()


def is_installed(name: str, cache=None) -> bool:
    """Whether every file of the catalog entry ``name`` is installed."""
    return _cache(cache).is_installed(entry(name))


def model_path(name: str, cache=None) -> Path:
    """The installed file of ``name``; FaceModelError says how to install it when missing."""
    from engine.models.cache import WeightsMissingError

    try:
        return _cache(cache).require(entry(name))
    except WeightsMissingError as exc:
        raise FaceModelError(str(exc)) from exc


def check_onnx_file(path: Path) -> None:
    """Raise ValueError when ``path`` is not an ONNX graph OpenCV can read."""
    path = Path(path)
    try:
        cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as exc:
        raise ValueError(f"{path.name} is not a readable ONNX model (OpenCV: {_short(exc)})") from exc


def _short(exc: Exception) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
