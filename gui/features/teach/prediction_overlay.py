"""The live classifier's prediction drawn over the video: a banner with the top class and
one bar per class (smoothed probabilities).

Coordinates are frame pixels (the painter is set up in frame space by the video view);
sizes scale with the frame width so the text stays readable from 320 to 1920 pixels.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPainter

from engine.features.teach.render import class_colour


def paint_prediction(painter: QPainter, prediction, frame_width: int) -> None:
    """Draw ``prediction`` (a live ``Prediction``: labels, smoothed, index, score, uncertain)."""
    p = prediction
    font = QFont()
    size = max(11, frame_width // 48)
    font.setPixelSize(size)
    painter.setFont(font)
    row = size + 8
    banner = max(16, frame_width // 22) + 16
    x0, y0, bar_w = 10, banner + 8, frame_width // 4  # under the banner, clear of captions at the bottom
    for i, (label, value) in enumerate(zip(p.labels, p.smoothed)):
        y = y0 + i * row
        b, g, r = class_colour(i)
        painter.fillRect(x0, y, bar_w, row - 4, QColor(0, 0, 0, 140))
        painter.fillRect(x0, y, int(bar_w * float(value)), row - 4, QColor(r, g, b, 220))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(x0 + 4, y + row - 8, f"{label}  {float(value):.0%}")
    font.setPixelSize(max(16, frame_width // 22))
    font.setBold(True)
    painter.setFont(font)
    text = "uncertain" if p.uncertain else f"{p.labels[p.index]}  {p.score:.0%}"
    painter.fillRect(0, 0, frame_width, font.pixelSize() + 16, QColor(0, 0, 0, 150))
    b, g, r = class_colour(p.index)
    painter.setPen(QColor(200, 200, 200) if p.uncertain else QColor(r, g, b))
    painter.drawText(12, font.pixelSize() + 6, text)
