"""Painting the Faces results over the video: a box per face, a name tag, the capture hint."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen

from engine.features.faces.types import UNKNOWN

GOOD = QColor(60, 200, 90)
BAD = QColor(230, 70, 60)
NEUTRAL = QColor(250, 200, 40)


def paint_faces(painter: QPainter, data, frame_width: int, capture_hint: str | None = None) -> None:
    """data: a FacesFrameResult (boxes in frame pixels); capture_hint: drawn top-left in enrol mode."""
    line = max(1.0, frame_width / 320)
    font = QFont(painter.font())
    font.setPixelSize(max(12, int(frame_width / 40)))
    font.setBold(True)
    painter.setFont(font)
    for face in data.faces:
        x1, y1, x2, y2 = (float(v) for v in face.detection.box)
        if data.mode == "enrol":
            colour, text = NEUTRAL, ""
        elif data.mode == "verify":
            colour = GOOD if face.verified else BAD
            text = f"{face.label} {face.distance:.3f}" if not math.isnan(face.distance) else face.label
        else:
            colour = BAD if face.label == UNKNOWN else GOOD
            text = face.label if math.isnan(face.distance) else f"{face.label} {face.distance:.3f}"
        painter.setPen(QPen(colour, line))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
        if text:
            metrics = painter.fontMetrics()
            width, height = metrics.horizontalAdvance(text) + 8, metrics.height() + 4
            top = y1 - height if y1 - height >= 0 else y2
            painter.fillRect(QRectF(x1, top, width, height), colour)
            painter.setPen(QColor(0, 0, 0))
            painter.drawText(QRectF(x1 + 4, top + 2, width - 8, height - 4), Qt.AlignmentFlag.AlignLeft, text)
    if data.mode == "enrol" and capture_hint:
        painter.setPen(NEUTRAL)
        painter.drawText(QRectF(8, 8, frame_width - 16, font.pixelSize() * 2), Qt.AlignmentFlag.AlignLeft, capture_hint)
