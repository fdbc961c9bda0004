"""What tracking and counting add to the Detect view: tracks (boxes "#id label" drawn
into the picture by ``draw_tracks``, trails painted), counting lines (with the "in" side
marked and the counts), zones (shaded, with the count inside), the line/zone being drawn,
and the heat map.

The painting functions get a painter already transformed so one unit is one frame pixel
(origin top-left, y down).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF

from engine.features.detect.controller import Draft
from engine.features.detect.counting import Regions
from engine.features.detect.scene_analysis import TrackedFrame
from gui.features.detect.overlay import class_qcolor
from gui.features.detect.raster_boxes import draw_boxes

LINE_COLOR = QColor(255, 220, 60)
ZONE_COLOR = QColor(60, 160, 255)
DRAFT_COLOR = QColor(255, 255, 255)


def paint_trails(painter: QPainter, tracked: TrackedFrame, frame_width: int, frame_height: int) -> None:
    """Each track's recent path as a polyline in its class colour (QPainter, frame pixels)."""
    tracks = tracked.tracks
    line = max(1.0, max(frame_width, frame_height) / 500.0)
    for i in range(len(tracks)):
        trail = tracks.trail(i)
        if len(trail) > 1:
            painter.setPen(QPen(class_qcolor(int(tracks.class_ids[i]), 170), line))
            painter.drawPolyline(QPolygonF([QPointF(x, y) for x, y in trail.tolist()]))


def draw_tracks(canvas: np.ndarray, scale: float, tracked: TrackedFrame, class_names: tuple[str, ...],
                frame_width: int, frame_height: int, selected: int | None = None) -> int:
    """Track boxes captioned "#id label", drawn into ``canvas`` (see
    ``gui.features.detect.raster_boxes``); returns the captions left out."""
    tracks = tracked.tracks
    n = len(tracks)
    if n == 0:
        return 0

    def caption(i: int) -> str:
        cid = int(tracks.class_ids[i])
        return f"#{int(tracks.ids[i])} {class_names[cid] if 0 <= cid < len(class_names) else f'class {cid}'}"

    order = np.argsort(-tracks.scores, kind="stable")
    return draw_boxes(canvas, scale, tracks.boxes, tracks.class_ids, [caption(i) for i in range(n)], order,
                      frame_width, frame_height, selected)


def _text(painter: QPainter, x: float, y: float, text: str, color: QColor, pixel: int) -> None:
    font = QFont()
    font.setPixelSize(pixel)
    painter.setFont(font)
    rect = QRectF(x, y - pixel - 4, pixel * 0.62 * len(text) + 8, pixel + 6)
    painter.fillRect(rect, QColor(0, 0, 0, 150))
    painter.setPen(color)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def paint_regions(painter: QPainter, regions: Regions, counts: dict | None, frame_width: int,
                  frame_height: int, draft: Draft | None = None) -> None:
    """Zones (shaded polygons + "name: N inside"), lines (+ an arrow to the "in" side and
    "name in N out M") and the draft being drawn (dashed)."""
    width = max(2.0, max(frame_width, frame_height) / 300.0)
    pixel = max(11, int(round(max(frame_width, frame_height) / 55.0)))
    counts = counts or {}
    for zone in regions.zones:
        polygon = QPolygonF([QPointF(x, y) for x, y in zone.points])
        fill = QColor(ZONE_COLOR)
        fill.setAlpha(45)
        painter.setBrush(fill)
        painter.setPen(QPen(ZONE_COLOR, width))
        painter.drawPolygon(polygon)
        inside = counts.get("zones", {}).get(zone.name, {}).get("inside", 0)
        x, y = zone.points[0]
        _text(painter, x, y, f"{zone.name}: {inside} inside", ZONE_COLOR, pixel)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for line in regions.lines:
        (x1, y1), (x2, y2) = line.p1, line.p2
        painter.setPen(QPen(LINE_COLOR, width))
        painter.drawLine(QPointF(x1, y1), QPointF(x2, y2))
        # An arrow from the middle towards the right-hand side: the "in" direction.
        length = math.hypot(x2 - x1, y2 - y1)
        nx, ny = -(y2 - y1) / length, (x2 - x1) / length
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        tip = QPointF(mx + nx * pixel * 1.6, my + ny * pixel * 1.6)
        painter.drawLine(QPointF(mx, my), tip)
        c = counts.get("lines", {}).get(line.name, {})
        _text(painter, x1, y1, f"{line.name}  in {c.get('in_total', 0)}  out {c.get('out_total', 0)}", LINE_COLOR, pixel)
    if draft is not None and draft.points:
        pen = QPen(DRAFT_COLOR, width, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        points = [QPointF(x, y) for x, y in draft.points]
        if len(points) > 1:
            painter.drawPolyline(QPolygonF(points))
        for p in points:
            painter.drawEllipse(p, width * 2, width * 2)


def heat_qimage(heat: np.ndarray) -> QImage:
    """(rows, cols) float 0..1 -> a premultiplied ARGB QImage (jet colours, alpha grows with heat)."""
    values = np.clip(heat, 0.0, 1.0)
    colours = cv2.applyColorMap((values * 255).astype(np.uint8), cv2.COLORMAP_JET)  # BGR
    alpha = (np.sqrt(values) * 170).astype(np.uint8)
    bgra = np.empty(values.shape + (4,), np.uint8)
    bgra[..., :3] = (colours.astype(np.uint16) * alpha[..., None] // 255).astype(np.uint8)  # premultiply
    bgra[..., 3] = alpha
    h, w = values.shape
    return QImage(bgra.data, w, h, w * 4, QImage.Format.Format_ARGB32_Premultiplied).copy()


def paint_heat(painter: QPainter, image: QImage, frame_width: int, frame_height: int) -> None:
    """Stretch the coarse heat image over the frame (smoothly)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    painter.drawImage(QRectF(0, 0, frame_width, frame_height), image)
    painter.restore()
