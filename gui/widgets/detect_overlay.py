"""Painting detections and the YOLO grid with QPainter, in frame pixel coordinates.

Painting is bounded for crowded frames: rectangles are batched per class, captions come
from a pixmap cache, and at most ``MAX_LABELS`` captions are drawn (the caller can show
"+N labels hidden"). The functions expect a painter already transformed so that one unit is one frame pixel
(origin top-left, y down), which is what ``StudioTab.paint_overlay`` receives. They only
read the ``Detections`` plain data, so they serve the live view, snapshots and tests.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen, QPixmap

from engine.detection.annotate import class_color_rgb
from engine.detection.types import Detections

# Faint, distinct colours for the heads' grids (coarse head first).
_GRID_COLORS = ((255, 255, 255), (120, 220, 255), (255, 200, 90))


def class_qcolor(class_id: int, alpha: int = 255) -> QColor:
    r, g, b = class_color_rgb(class_id)
    return QColor(r, g, b, alpha)


@functools.lru_cache(maxsize=1024)
def _class_pen(class_id: int, width: float) -> QPen:
    return QPen(class_qcolor(class_id), width)


# Captions drawn per frame, best scores first; boxes are always all drawn. Beyond about 25
# captions a 640x480 picture is unreadable, and each one costs the GUI thread a pixmap.
MAX_LABELS = 25
_LABEL_CACHE_SIZE = 512


class LabelCache:
    """Caption pixmaps ("label 0.87" on the class colour), rendered once and reused.

    Text layout is the expensive part of painting many boxes; a caption that repeats
    (same text, class, font size) is drawn from its pixmap. Least recently used first out.
    """

    def __init__(self, size: int = _LABEL_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, QPixmap] = OrderedDict()
        self.rendered = 0

    def get(self, text: str, class_id: int, pixel_size: int) -> QPixmap:
        key = (text, class_id, pixel_size)
        pixmap = self._items.get(key)
        if pixmap is not None:
            self._items.move_to_end(key)
            return pixmap
        font = QFont()
        font.setPixelSize(pixel_size)
        metrics = QFontMetricsF(font)
        width, height = int(metrics.horizontalAdvance(text) + 7), int(metrics.height() + 2)
        pixmap = QPixmap(max(1, width), max(1, height))
        pixmap.fill(class_qcolor(class_id))
        p = QPainter(pixmap)
        p.setFont(font)
        p.setPen(QColor(0, 0, 0))
        p.drawText(QRectF(3, 0, width - 3, height), Qt.AlignmentFlag.AlignVCenter, text)
        p.end()
        self.rendered += 1
        self._items[key] = pixmap
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return pixmap


_LABELS = LabelCache()


def paint_boxes(painter: QPainter, boxes: np.ndarray, class_ids: np.ndarray, captions: list[str] | None,
                order: np.ndarray | None, frame_width: int, frame_height: int, selected: int | None = None,
                labels: LabelCache = _LABELS, max_labels: int = MAX_LABELS) -> int:
    """Boxes batched per class (one drawRects call each) and at most ``max_labels``
    cached captions, most important first (``order``: row indices, best first).

    boxes: (N, 4) xyxy frame pixels. captions: one per row, or None for none. Returns how
    many captions were left out; the caller may say so on the picture.
    """
    n = len(boxes)
    if n == 0:
        return 0
    line = max(1.0, max(frame_width, frame_height) / 400.0)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    # Axis-aligned rectangles look the same without antialiasing, and Qt's raster engine
    # draws them several times faster so (40 boxes of 18 classes: 2.4 -> 1.1 ms a paint,
    # time the GUI thread holds the interpreter lock the inference thread waits for).
    smooth = painter.testRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    ids = np.asarray(class_ids, np.int64)
    b = np.asarray(boxes, np.float64)
    for cid in np.unique(ids).tolist():
        rows = np.flatnonzero(ids == cid)
        painter.setPen(_class_pen(cid, line))
        painter.drawRects([QRectF(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in b[rows].tolist()])
    if selected is not None and 0 <= selected < n:
        x1, y1, x2, y2 = b[selected].tolist()
        painter.setPen(QPen(class_qcolor(int(ids[selected])), line * 2.5))
        painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, smooth)
    if not captions:
        return 0
    pixel = max(10, int(round(max(frame_width, frame_height) / 50.0)))
    shown = (np.arange(n) if order is None else np.asarray(order))[:max_labels].tolist()
    for i in shown:
        pixmap = labels.get(captions[i], int(ids[i]), pixel)
        x1, y1 = float(b[i, 0]), float(b[i, 1])
        top = y1 - pixmap.height() if y1 - pixmap.height() >= 0 else y1
        painter.drawPixmap(QPointF(x1, top), pixmap)
    return n - len(shown)


def paint_hidden_note(painter: QPainter, hidden: int, frame_width: int, frame_height: int) -> None:
    """"+N labels hidden" in the bottom-left corner."""
    if hidden <= 0:
        return
    font = QFont()
    font.setPixelSize(max(10, int(round(max(frame_width, frame_height) / 55.0))))
    painter.setFont(font)
    text = f"+{hidden} label{'s' if hidden != 1 else ''} hidden"
    metrics = QFontMetricsF(font)
    rect = QRectF(4, frame_height - metrics.height() - 6, metrics.horizontalAdvance(text) + 10, metrics.height() + 4)
    painter.fillRect(rect, QColor(0, 0, 0, 160))
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def paint_detections(painter: QPainter, detections: Detections, frame_width: int, frame_height: int,
                     selected: int | None = None) -> int:
    """Boxes with "label score" captions in stable per-class colours; returns the captions left out."""
    order = np.argsort(-detections.scores, kind="stable")
    captions = [f"{label} {score:.2f}" for label, score in zip(detections.labels, detections.scores.tolist())]
    return paint_boxes(painter, detections.boxes, detections.class_ids, captions, order, frame_width, frame_height,
                       selected)


def paint_grid(painter: QPainter, detections: Detections, selected: int | None) -> str:
    """Each head's grid over the frame; for the selected detection, its responsible cell
    (filled) and its anchor box (dashed, centred on the cell). Returns a one-line
    explanation of the selected detection's origin (empty when there is none)."""
    mapping = detections.mapping
    if mapping is None or not detections.grids:
        return ""
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
    if selected is None or detections.origins is None or not 0 <= selected < len(detections):
        return ""
    head, gx, gy, anchor = (int(v) for v in detections.origins[selected])
    grid = detections.grids[head]
    color = class_qcolor(int(detections.class_ids[selected]))
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
