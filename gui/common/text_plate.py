"""Short notices drawn over the video ("+12 labels hidden", "untrained weights"): text on a
translucent plate, laid out once and kept as a pixmap (they are painted on every frame,
and text layout is the slow part of painting)."""

from __future__ import annotations

import functools

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPixmap


@functools.lru_cache(maxsize=64)
def text_plate(text: str, pixel_size: int, ink: tuple[int, int, int] = (255, 255, 255),
               plate: tuple[int, int, int, int] = (0, 0, 0, 160), pad: int = 10, height: int | None = None) -> QPixmap:
    """``text`` centred in ``ink`` (RGB) on a ``plate`` (RGBA) rectangle ``pad`` pixels
    wider than the text and ``height`` tall (default: the line height plus 4)."""
    font = QFont()
    font.setPixelSize(pixel_size)
    metrics = QFontMetricsF(font)
    pixmap = QPixmap(int(metrics.horizontalAdvance(text) + pad), height or int(metrics.height() + 4))
    pixmap.fill(QColor(*plate))
    painter = QPainter(pixmap)
    painter.setFont(font)
    painter.setPen(QColor(*ink))
    painter.drawText(QRectF(0, 0, pixmap.width(), pixmap.height()), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pixmap
