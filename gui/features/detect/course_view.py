"""What the course shows of the newer detectors, painted over the frame (painter in frame
pixels, origin top-left, y down), beside the Darknet grid-and-anchor view of ``overlay``:

- YOLOX (anchor-free): each stride's lattice of grid points as dots (``paint_grid_points``,
  drawn once per grid and view size into the cached grid layer), and for the selected box
  the point that predicted it (``paint_predicting_point``), from
  ``engine.features.detect.backends.yolox.course``.
- DETR family (RT-DETR, RT-DETRv2, D-FINE: set prediction): the encoder's top-k proposals,
  faint, more opaque the higher their encoder score, and for the selected object its box
  as each decoder layer refines it, from the ``SetTrace`` in ``Detections.extra``
  (``paint_set_view``).

Each ``paint_*`` for a selection returns the one-line explanation the tab shows.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF

from engine.features.detect.types import Detections

# One colour a stride (finest first), as the Darknet heads' grids.
POINT_COLORS = ((255, 200, 90), (120, 220, 255), (255, 255, 255))
PROPOSAL_COLOR = (150, 200, 255)
PROPOSAL_ALPHA = (12, 110)  # a proposal's pen alpha from encoder score 0 to 1
ALPHA_STEPS = 8  # proposals are drawn in this many opacity groups: one drawRects call each
SET_TEXT = "one query per object: training matched each object to one query, so no NMS is needed"


def has_set_view(detections: Detections) -> bool:
    return detections.extra.get("set_trace") is not None and "query" in detections.extra.get("rows", {})


def paint_grid_points(painter: QPainter, detections: Detections) -> None:
    """Every stride's grid points as round dots, coarser strides larger (a dot's diameter
    a fifth of its stride, at least one frame pixel): where the anchor-free head predicts
    from, one box per point. Drawn with one ``drawPoints`` a stride."""
    from engine.features.detect.backends.yolox.course import point_levels

    mapping = detections.mapping
    for i, level in enumerate(point_levels(detections)):
        r, g, b = POINT_COLORS[i % len(POINT_COLORS)]
        size = max(1.0, level.stride / mapping.scale_x * 0.2)
        pen = QPen(QColor(r, g, b, 150), size)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.drawPoints(QPolygonF([QPointF(float(x), float(y)) for x, y in level.points]))


def paint_predicting_point(painter: QPainter, detections: Detections, selected: int | None, color: QColor) -> str:
    """The point that predicted detection ``selected``: a ring around it, its stride's
    cell faintly filled, and a line to the box centre it predicted (the learned offset)."""
    from engine.features.detect.backends.yolox.course import predicting_point

    if selected is None:
        return ""
    point = predicting_point(detections, selected)
    if point is None:
        return ""
    mapping = detections.mapping
    stride = detections.grids[point.level].stride
    x1, y1 = mapping.to_frame(float(point.grid_x * stride), float(point.grid_y * stride))
    x2, y2 = mapping.to_frame(float((point.grid_x + 1) * stride), float((point.grid_y + 1) * stride))
    fill = QColor(color)
    fill.setAlpha(60)
    painter.fillRect(QRectF(float(x1), float(y1), float(x2 - x1), float(y2 - y1)), fill)
    cx, cy = point.centre
    radius = max(3.0, float(x2 - x1) * 0.35)
    painter.setBrush(QBrush(color))
    painter.setPen(QPen(QColor(0, 0, 0), 0))
    painter.drawEllipse(QPointF(cx, cy), radius * 0.4, radius * 0.4)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(color, max(1.5, radius * 0.2)))
    painter.drawEllipse(QPointF(cx, cy), radius, radius)
    bx1, by1, bx2, by2 = (float(v) for v in detections.boxes[selected])
    painter.setPen(QPen(color, 0, Qt.PenStyle.DashLine))
    painter.drawLine(QPointF(cx, cy), QPointF((bx1 + bx2) / 2, (by1 + by2) / 2))
    return point.text


def _ramp(step: int, steps: int) -> QColor:
    """Colour of refinement step ``step`` of ``steps``: blue (the proposal) to yellow (the output)."""
    t = step / max(1, steps - 1)
    return QColor(int(60 + 195 * t), int(140 + 90 * t), int(255 - 215 * t))


def paint_set_view(painter: QPainter, detections: Detections, selected: int | None) -> str:
    """The encoder's proposals (faint, opacity by encoder score) and, for the selected
    detection, its query's box from the proposal through each decoder layer (colour
    ramp blue -> yellow, centres joined); returns the explanation ("" without a trace)."""
    if not has_set_view(detections):
        return ""
    trace = detections.extra["set_trace"]
    proposals = np.asarray(trace.proposals, np.float32)
    scores = trace.proposal_scores if trace.proposal_scores is not None else np.full(len(proposals), 0.5)
    groups = np.minimum((np.clip(scores, 0.0, 1.0) * ALPHA_STEPS).astype(int), ALPHA_STEPS - 1)
    low, high = PROPOSAL_ALPHA
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for group in range(ALPHA_STEPS):
        rows = proposals[groups == group]
        if not len(rows):
            continue
        alpha = int(low + (high - low) * (group + 0.5) / ALPHA_STEPS)
        painter.setPen(QPen(QColor(*PROPOSAL_COLOR, alpha), 0))
        painter.drawRects([QRectF(float(a), float(b), float(c - a), float(d - b)) for a, b, c, d in rows])
    if selected is None or not 0 <= selected < len(detections):
        return ""
    query = int(detections.extra["rows"]["query"][selected])
    if not 0 <= query < len(proposals):
        return ""
    steps = trace.refinement(query)  # (L + 1, 4): the proposal, then after each layer
    centres = [QPointF(float(a + c) / 2, float(b + d) / 2) for a, b, c, d in steps]
    for i, (a, b, c, d) in enumerate(steps):
        colour = _ramp(i, len(steps))
        painter.setPen(QPen(colour, 0, Qt.PenStyle.DashLine if i == 0 else Qt.PenStyle.SolidLine))
        painter.drawRect(QRectF(float(a), float(b), float(c - a), float(d - b)))
    painter.setPen(QPen(QColor(255, 255, 255, 200), 0))
    painter.drawPolyline(QPolygonF(centres))
    for i, centre in enumerate(centres):
        painter.setBrush(QBrush(_ramp(i, len(steps))))
        painter.drawEllipse(centre, 3.0, 3.0)
    score = "" if trace.proposal_scores is None else f" (encoder score {float(trace.proposal_scores[query]):.2f})"
    return (f"{detections.labels[selected]} {detections.scores[selected]:.2f}: query {query} of {len(proposals)}, "
            f"the encoder's proposal{score} (dashed) refined by {trace.num_layers} decoder layers "
            f"(blue -> yellow); {SET_TEXT}")
