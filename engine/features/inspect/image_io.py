"""Writing pictures the inspection tools make (grids, overlays, visualisations) safely.

The image is encoded in memory and written to a temporary file in the target folder,
then renamed into place: an interrupted save leaves the previous file intact and no
partial file behind.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from engine.core.safe_files import atomic_write_bytes

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Save a BGR uint8 (H, W, 3) image; the suffix picks the format. OSError/ValueError name the file."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot save '{path}': use a {', '.join(IMAGE_SUFFIXES)} file name")
    if not target.parent.is_dir():
        raise OSError(f"cannot save '{path}': folder '{target.parent}' does not exist")
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise OSError(f"cannot save '{path}': OpenCV could not encode it")
    atomic_write_bytes(target, encoded.tobytes())
    log.info("wrote %s", target)
    return target
