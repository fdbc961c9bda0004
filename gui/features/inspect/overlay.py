"""What the Feature maps tab paints over the video: the explanation heat map, the
receptive field of the unit under the mouse, and an "untrained weights" plate.

The painter is in frame pixel coordinates (see gui/common/tab_base.py); everything drawn comes
from the controller's stored result, so snapshots and recordings show the same.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from gui.common.text_plate import text_plate


def paint_features_overlay(painter: QPainter, frame_width: int, frame_height: int, controller, heat: QImage | None, opacity: float) -> None:
    """Heat map at ``opacity`` (0-1) when an explanation mode is on, the unit's field, the plate."""
    r, c = controller.result, controller
    if r is not None and heat is not None and c.settings.mode != "activations":
        painter.save()
        painter.setOpacity(opacity)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(QRectF(0, 0, frame_width, frame_height), heat)
        painter.restore()
    if c.unit_box is not None:
        x1, y1, x2, y2 = c.unit_box
        painter.save()
        painter.setPen(QPen(QColor(255, 60, 60), 2 * max(1.0, frame_width / 320)))
        painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
        if r is not None and c.unit is not None:
            font = QFont()
            font.setPixelSize(int(max(10, frame_height / 30)))
            painter.setFont(font)
            painter.drawText(QRectF(x1 + 3, y1 + 2, max(10.0, x2 - x1), font.pixelSize() * 1.4), Qt.AlignmentFlag.AlignLeft,
                             f"{r.layer}[{r.pinned_channel}] unit {c.unit[0]},{c.unit[1]}")
        painter.restore()
    if r is not None and not r.trained:
        pixel = int(max(10, frame_height / 28))
        plate = text_plate("untrained weights", pixel, ink=(255, 210, 0), plate=(0, 0, 0, 150), pad=12,
                           height=int(pixel * 1.5))
        # Top right: the bottom of a frame often carries captions.
        painter.drawPixmap(QPointF(frame_width - plate.width() - 6, 6), plate)


#: Freeze frame's button while the frame is frozen: the colour of the badge on the video.
FROZEN_BUTTON_STYLE = "QPushButton { background: #1e6fd9; color: white; font-weight: bold; }"
FROZEN_BADGE_COLOUR = QColor(30, 111, 217)


def paint_frozen_badge(painter: QPainter) -> None:
    """"Frozen" in a filled badge at the top-left of the frame (frame pixel coordinates):
    without it a frozen picture looks exactly like a live one."""
    painter.save()
    font = QFont(painter.font())
    font.setBold(True)
    painter.setFont(font)
    text = "Frozen (F: live)"
    metrics = painter.fontMetrics()
    rect = QRectF(8, 8, metrics.horizontalAdvance(text) + 16, metrics.height() + 8)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(FROZEN_BADGE_COLOUR)
    painter.drawRoundedRect(rect, 4, 4)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
