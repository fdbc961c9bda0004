"""Showing detections: boxes and captions drawn into the picture, the YOLO grid painted over it.

``draw_detections`` draws into the composed picture's pixels (``StudioTab.raster_overlay``,
see ``gui.features.detect.raster_boxes``): that runs for every result and must not hold the
interpreter lock. The rest is QPainter in frame pixel coordinates (origin top-left, y
down), which is what ``StudioTab.paint_overlay`` receives: the grid and the "+N labels
hidden" note. Drawing is bounded for crowded frames: at most ``raster_boxes.MAX_LABELS``
captions.
Everything reads only the ``Detections`` plain data, so it serves the live view,
snapshots and tests alike.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen

from engine.features.detect.annotate import class_color_rgb
from engine.features.detect.backends.yolox.course import is_anchor_free
from engine.features.detect.types import Detections
from gui.common.text_plate import text_plate
from gui.features.detect.course_view import paint_grid_points, paint_predicting_point
from gui.features.detect.raster_boxes import draw_boxes

# Faint, distinct colours for the heads' grids (coarse head first).
_GRID_COLORS = ((255, 255, 255), (120, 220, 255), (255, 200, 90))


def class_qcolor(class_id: int, alpha: int = 255) -> QColor:
    r, g, b = class_color_rgb(class_id)
    return QColor(r, g, b, alpha)


def paint_banner(painter: QPainter, width: int, height: int, text: str) -> None:
    """``text`` centred on a dark band across the top of the frame (a warning over the video)."""
    font = QFont()
    font.setPixelSize(max(12, width // 45))
    painter.setFont(font)
    band = max(28, height // 12)
    painter.fillRect(0, 0, width, band, QColor(0, 0, 0, 170))
    painter.setPen(QColor(255, 210, 90))
    painter.drawText(0, 0, width, band, Qt.AlignmentFlag.AlignCenter, text)


def paint_hidden_note(painter: QPainter, hidden: int, frame_width: int, frame_height: int) -> None:
    """"+N labels hidden" in the bottom-left corner."""
    if hidden <= 0:
        return
    text = f"+{hidden} label{'s' if hidden != 1 else ''} hidden"
    pixmap = text_plate(text, max(10, int(round(max(frame_width, frame_height) / 55.0))))
    painter.drawPixmap(QPointF(4, frame_height - pixmap.height() - 2), pixmap)


def draw_detections(canvas: np.ndarray, scale: float, detections: Detections, frame_width: int, frame_height: int,
                    selected: int | None = None) -> int:
    """Boxes with "label score" captions in stable per-class colours, drawn into ``canvas``
    (see ``gui.features.detect.raster_boxes``); returns the captions left out."""
    order = np.argsort(-detections.scores, kind="stable")
    captions = [f"{label} {score:.2f}" for label, score in zip(detections.labels, detections.scores.tolist())]
    return draw_boxes(canvas, scale, detections.boxes, detections.class_ids, captions, order, frame_width,
                      frame_height, selected)


def grid_key(detections: Detections) -> tuple | None:
    """What the grid lines depend on (equal keys: the same lines), None without a grid."""
    if detections.mapping is None or not detections.grids:
        return None
    return (detections.mapping, tuple((g.cols, g.rows, g.stride) for g in detections.grids))


def paint_grid_lines(painter: QPainter, detections: Detections) -> None:
    """Each head's grid lines over the frame (painter in frame pixels), or an anchor-free
    model's grid points (``course_view.paint_grid_points``). About 80 translucent
    full-length lines: ~10 ms of QPainter, so the live view draws them once per grid and
    view size into a cached layer (``gui.features.detect.scene.BlendLayer``)."""
    mapping = detections.mapping
    if mapping is None or not detections.grids:
        return
    if is_anchor_free(detections):  # YOLOX: points, not cells
        paint_grid_points(painter, detections)
        return
    for h, grid in enumerate(detections.grids):
        r, g, b = _GRID_COLORS[h % len(_GRID_COLORS)]
        pen = QPen(QColor(r, g, b, 70 if h == 0 else 45), 0)  # cosmetic: 1 screen pixel
        painter.setPen(pen)
        x_top, y_top = mapping.to_frame(0.0, 0.0)
        x_end, y_end = mapping.to_frame(float(mapping.input_width), float(mapping.input_height))
        for c in range(grid.cols + 1):
            x, _ = mapping.to_frame(float(c * grid.stride), 0.0)
            painter.drawLine(QPointF(float(x), float(y_top)), QPointF(float(x), float(y_end)))
        for row in range(grid.rows + 1):
            _, y = mapping.to_frame(0.0, float(row * grid.stride))
            painter.drawLine(QPointF(float(x_top), float(y)), QPointF(float(x_end), float(y)))


def paint_grid(painter: QPainter, detections: Detections, selected: int | None, lines: bool = True) -> str:
    """Each head's grid over the frame (``lines``; False when they are drawn already); for
    the selected detection, its responsible cell (filled) and its anchor box (dashed,
    centred on the cell), or for an anchor-free model (YOLOX) the point that predicted it. Returns a one-line explanation of the selected detection's
    origin (empty when there is none)."""
    mapping = detections.mapping
    if mapping is None or not detections.grids:
        return ""
    if lines:
        paint_grid_lines(painter, detections)
    if selected is None or detections.origins is None or not 0 <= selected < len(detections):
        return ""
    color = class_qcolor(int(detections.class_ids[selected]))
    if is_anchor_free(detections):
        return paint_predicting_point(painter, detections, selected, color)
    head, gx, gy, anchor = (int(v) for v in detections.origins[selected])
    grid = detections.grids[head]
    x1, y1 = mapping.to_frame(float(gx * grid.stride), float(gy * grid.stride))
    x2, y2 = mapping.to_frame(float((gx + 1) * grid.stride), float((gy + 1) * grid.stride))
    fill = QColor(color)
    fill.setAlpha(90)
    painter.fillRect(QRectF(float(x1), float(y1), float(x2 - x1), float(y2 - y1)), fill)
    painter.setPen(QPen(color, 0))
    painter.drawRect(QRectF(float(x1), float(y1), float(x2 - x1), float(y2 - y1)))
    aw, ah = (float(v) for v in grid.anchors[anchor])
    cx, cy = (float(x1) + float(x2)) / 2, (float(y1) + float(y2)) / 2
    w, h = aw / mapping.scale_x, ah / mapping.scale_y
    dashed = QPen(color, 0, Qt.PenStyle.DashLine)
    painter.setPen(dashed)
    painter.setBrush(QBrush(Qt.BrushStyle.NoBrush))
    painter.drawRect(QRectF(cx - w / 2, cy - h / 2, w, h))
    return (f"{detections.labels[selected]} {detections.scores[selected]:.2f}: head {head + 1} "
            f"({grid.cols}x{grid.rows} grid, stride {grid.stride}), cell ({gx}, {gy}), "
            f"anchor {grid.mask[anchor]} = {aw:g}x{ah:g} px of the {mapping.input_width}x{mapping.input_height} input")
