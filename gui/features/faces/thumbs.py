"""Showing face chips (uint8 BGR numpy) in Qt widgets: pixmaps and icons."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QImage, QPixmap


def chip_pixmap(chip: np.ndarray, size: int = 96) -> QPixmap:
    """A scaled, owned copy of a BGR chip as a QPixmap (safe after the array is freed)."""
    chip = np.ascontiguousarray(chip)
    h, w = chip.shape[:2]
    image = QImage(chip.data, w, h, 3 * w, QImage.Format.Format_BGR888).copy()
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)


def chip_icon(chip: np.ndarray, size: int = 96) -> QIcon:
    return QIcon(chip_pixmap(chip, size))
