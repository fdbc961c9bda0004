"""What tracking and counting add to the Detect view: tracks (boxes "#id label" drawn
into the picture by ``draw_tracks``, trails painted), counting lines (with the "in" side
marked and the counts), zones (shaded, with the count inside), the line/zone being drawn,
and the heat map.

The painting functions get a painter already transformed so one unit is one frame pixel
(origin top-left, y down).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QPolygonF

from engine.features.detect.controller import Draft
from engine.features.detect.counting import Regions
from engine.features.detect.scene_analysis import TrackedFrame
from gui.features.detect.raster_boxes import blit, class_bgra, draw_boxes

LINE_COLOR = QColor(255, 220, 60)
ZONE_COLOR = QColor(60, 160, 255)
DRAFT_COLOR = QColor(255, 255, 255)


def draw_trails(canvas: np.ndarray, scale: float, tracked: TrackedFrame, frame_width: int, frame_height: int) -> None:
    """Each track's recent path as a polyline in its class colour, drawn into ``canvas``
    (uint8 BGRA, frame pixels x ``scale``) with OpenCV, which releases the interpreter
    lock the inference thread needs (QPainter polylines per result did not)."""
    tracks = tracked.tracks
    width = max(1, int(round(max(1.0, max(frame_width, frame_height) / 500.0) * scale)))
    for i in range(len(tracks)):
        trail = tracks.trail(i)
        if len(trail) > 1:
            points = np.rint(trail * scale).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [points], False, class_bgra(int(tracks.class_ids[i])), width, cv2.LINE_8)


class BlendLayer:
    """A translucent picture blended into the canvas per result with OpenCV, made only
    when what it shows (``key``) or the canvas size changed.

    ``draw(canvas, key, make)``: ``make(width, height)`` returns the layer as (H, W, 4)
    uint8 premultiplied BGRA at the canvas size. Why: stretching the heat image or
    drawing the grid's ~80 translucent lines with QPainter on every repaint held the
    interpreter lock the inference thread needs (the grid alone ~10 ms a result);
    ``cv2.multiply`` / ``cv2.add`` release it.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._colour: np.ndarray | None = None  # (H, W, 4) premultiplied colour, alpha 0
        self._keep: np.ndarray | None = None  # (H, W, 4) 255 - alpha (alpha channel 255)

    def draw(self, canvas: np.ndarray, key, make) -> None:
        h, w = canvas.shape[:2]
        if self._key != (w, h, key):
            layer = make(w, h)
            alpha = layer[..., 3:4]
            self._colour = np.concatenate((layer[..., :3], np.zeros_like(alpha)), axis=2)
            keep = np.repeat(255 - alpha, 4, axis=2)
            keep[..., 3] = 255
            self._keep = keep
            self._key = (w, h, key)
        cv2.multiply(canvas, self._keep, dst=canvas, scale=1.0 / 255.0)
        cv2.add(canvas, self._colour, dst=canvas)


class HeatLayer(BlendLayer):
    """The heat map blended into the picture: ``set_heat`` takes the coarse (rows, cols)
    0..1 image a few times a second; ``draw`` stretches it (bilinear) only when it changed."""

    def __init__(self) -> None:
        super().__init__()
        self._heat: np.ndarray | None = None
        self._serial = 0

    def set_heat(self, heat: np.ndarray | None) -> None:
        self._heat = heat
        self._serial += 1

    @property
    def shown(self) -> bool:
        return self._heat is not None

    def draw(self, canvas: np.ndarray) -> None:  # type: ignore[override]
        if self._heat is not None:
            heat = self._heat
            super().draw(canvas, self._serial,
                         lambda w, h: cv2.resize(heat_bgra(heat), (w, h), interpolation=cv2.INTER_LINEAR))


def grid_layer(detections, frame_width: int, width: int, height: int) -> np.ndarray:
    """(height, width, 4) premultiplied BGRA: the grid lines of ``detections`` drawn once
    with QPainter at the canvas size (canvas pixel = width / frame_width frame pixels)."""
    from gui.features.detect.overlay import paint_grid_lines

    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    scale = width / max(1, frame_width)
    painter.scale(scale, scale)
    paint_grid_lines(painter, detections)
    painter.end()
    pixels = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    argb = pixels.reshape(height, image.bytesPerLine() // 4, 4)[:, :width]
    return np.ascontiguousarray(argb if np.little_endian else argb[..., ::-1])


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


@functools.lru_cache(maxsize=256)
def _caption_bitmap(text: str, rgb: tuple[int, int, int], pixel: int) -> np.ndarray:
    """(h, w, 4) uint8 BGRA, opaque: ``text`` in colour ``rgb`` on a dark plate (laid out
    once per text: counts change a few times a second at most)."""
    font = QFont()
    font.setPixelSize(pixel)
    metrics = QFontMetricsF(font)
    width, height = int(metrics.horizontalAdvance(text)) + 8, int(metrics.height()) + 4
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor(25, 25, 25))
    painter = QPainter(image)
    painter.setFont(font)
    painter.setPen(QColor(*rgb))
    painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    pixels = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    argb = pixels.reshape(height, image.bytesPerLine() // 4, 4)[:, :width]
    return np.ascontiguousarray(argb if np.little_endian else argb[..., ::-1])


def region_captions(regions: Regions, counts: dict | None) -> list[tuple[float, float, str, QColor]]:
    """(x, y, text, colour) of each zone's "name: N inside" and each line's "name in N out M",
    anchored at the zone's first corner / the line's first end (frame pixels)."""
    counts = counts or {}
    out = []
    for zone in regions.zones:
        inside = counts.get("zones", {}).get(zone.name, {}).get("inside", 0)
        out.append((*zone.points[0], f"{zone.name}: {inside} inside", ZONE_COLOR))
    for line in regions.lines:
        c = counts.get("lines", {}).get(line.name, {})
        out.append((*line.p1, f"{line.name}  in {c.get('in_total', 0)}  out {c.get('out_total', 0)}", LINE_COLOR))
    return out


def draw_region_captions(canvas: np.ndarray, scale: float, regions: Regions, counts: dict | None,
                         frame_width: int, frame_height: int) -> None:
    """The zones' and lines' captions drawn into ``canvas`` (BGRA, frame pixels x ``scale``)
    *before* the detection boxes, so a box's label is never hidden under a zone's caption."""
    pixel = max(10, int(round(max(11, max(frame_width, frame_height) / 55.0) * scale)))
    for x, y, text, colour in region_captions(regions, counts):
        bitmap = _caption_bitmap(text, (colour.red(), colour.green(), colour.blue()), pixel)
        blit(canvas, int(round(x * scale)), int(round(y * scale)) - bitmap.shape[0], bitmap)


def paint_regions(painter: QPainter, regions: Regions, counts: dict | None, frame_width: int,
                  frame_height: int, draft: Draft | None = None) -> None:
    """Zones (shaded polygons), lines (+ an arrow to the "in" side) and the draft being
    drawn (dashed). Their captions are drawn into the picture, under the detections'
    labels (``draw_region_captions``)."""
    width = max(2.0, max(frame_width, frame_height) / 300.0)
    pixel = max(11, int(round(max(frame_width, frame_height) / 55.0)))
    for zone in regions.zones:
        polygon = QPolygonF([QPointF(x, y) for x, y in zone.points])
        fill = QColor(ZONE_COLOR)
        fill.setAlpha(45)
        painter.setBrush(fill)
        painter.setPen(QPen(ZONE_COLOR, width))
        painter.drawPolygon(polygon)
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
    if draft is not None and draft.points:
        pen = QPen(DRAFT_COLOR, width, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        points = [QPointF(x, y) for x, y in draft.points]
        if len(points) > 1:
            painter.drawPolyline(QPolygonF(points))
        for p in points:
            painter.drawEllipse(p, width * 2, width * 2)


HEAT_MIN_ALPHA, HEAT_MAX_ALPHA = 80, 190  # any cell with a detection shows; the hottest do not hide the picture


def heat_bgra(heat: np.ndarray) -> np.ndarray:
    """(rows, cols) float 0..1 -> (rows, cols, 4) uint8 premultiplied BGRA: jet colours,
    alpha from ``HEAT_MIN_ALPHA`` (the coolest cell with any detection) to
    ``HEAT_MAX_ALPHA`` (the hottest); 0 where nothing was."""
    values = np.clip(heat, 0.0, 1.0)
    colours = cv2.applyColorMap((values * 255).astype(np.uint8), cv2.COLORMAP_JET)  # BGR
    alpha = np.where(values > 0, HEAT_MIN_ALPHA + (HEAT_MAX_ALPHA - HEAT_MIN_ALPHA) * values, 0).astype(np.uint8)
    bgra = np.empty(values.shape + (4,), np.uint8)
    bgra[..., :3] = (colours.astype(np.uint16) * alpha[..., None] // 255).astype(np.uint8)  # premultiply
    bgra[..., 3] = alpha
    return bgra
