"""What the course shows of the newer detectors, painted over the frame (painter in frame
pixels, origin top-left, y down), beside the Darknet grid-and-anchor view of ``overlay``:

- YOLOX (anchor-free): each stride's lattice of grid points as dots (``paint_grid_points``,
  drawn once per grid and view size into the cached grid layer), and for the selected box
  the point that predicted it (``paint_predicting_point``), from
  ``engine.features.detect.backends.yolox.course``.
- DETR family (RT-DETR, RT-DETRv2, D-FINE: set prediction): the encoder's top-k proposals,
  faint, more opaque the higher their encoder score (``draw_proposals``, drawn into the
  picture with OpenCV), and for the selected object its box as each decoder layer
  refines it (``paint_set_view``), from the ``SetTrace`` in ``Detections.extra``.

Each ``paint_*`` for a selection returns the one-line explanation the tab shows.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF

from engine.features.detect.types import Detections

# One colour a stride (finest first), as the Darknet heads' grids.
POINT_COLORS = ((255, 200, 90), (120, 220, 255), (255, 255, 255))
PROPOSAL_COLOR = (150, 200, 255)
PROPOSAL_OPACITY = (0.06, 0.5)  # a proposal's opacity from encoder score 0 to 1
OPACITY_GROUPS = 4  # proposals are blended in this many opacity steps (one pass each)
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
        pen = QPen(QColor(r, g, b, 120), size)
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


def draw_proposals(canvas: np.ndarray, detections: Detections, scale: float) -> None:
    """The encoder's proposals as 1-pixel outlines drawn into ``canvas`` (uint8 BGRA, frame
    pixels x ``scale``), more opaque the higher their encoder score: ``OPACITY_GROUPS``
    passes, each drawing its proposals opaque on a copy and blending it in with one
    opacity. OpenCV throughout (it releases the interpreter lock): ~6 ms for 300
    proposals at 1280x720 on a busy 2-core CPU, where QPainter's translucent rectangles
    took ~20 ms on the GUI thread."""
    trace = detections.extra["set_trace"]
    boxes = np.rint(np.asarray(trace.proposals, np.float32) * scale).astype(np.int32)
    scores = trace.proposal_scores if trace.proposal_scores is not None else np.full(len(boxes), 0.5)
    groups = np.minimum((np.clip(scores, 0.0, 1.0) * OPACITY_GROUPS).astype(int), OPACITY_GROUPS - 1)
    low, high = PROPOSAL_OPACITY
    r, g, b = PROPOSAL_COLOR
    over = np.empty_like(canvas)
    for group in range(OPACITY_GROUPS):
        rows = boxes[groups == group]
        if not len(rows):
            continue
        np.copyto(over, canvas)
        for x1, y1, x2, y2 in rows.tolist():
            cv2.rectangle(over, (x1, y1), (x2, y2), (b, g, r, 255), 1, cv2.LINE_8)
        opacity = low + (high - low) * (group + 0.5) / OPACITY_GROUPS
        cv2.addWeighted(over, opacity, canvas, 1.0 - opacity, 0.0, dst=canvas)


def paint_set_view(painter: QPainter, detections: Detections, selected: int | None) -> str:
    """For the selected detection, its query's box from the encoder's proposal through
    each decoder layer (colour ramp blue -> yellow, the proposal dashed, centres joined);
    returns the explanation ("" without a trace or a selection). The proposals themselves
    are drawn into the picture (``draw_proposals``)."""
    if not has_set_view(detections):
        return ""
    trace = detections.extra["set_trace"]
    proposals = trace.proposals
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
    painter.setPen(QPen(QColor(255, 255, 255), 0))  # opaque: translucent QPainter lines are slow
    painter.drawPolyline(QPolygonF(centres))
    for i, centre in enumerate(centres):
        painter.setBrush(QBrush(_ramp(i, len(steps))))
        painter.drawEllipse(centre, 3.0, 3.0)
    score = "" if trace.proposal_scores is None else f" (encoder score {float(trace.proposal_scores[query]):.2f})"
    return (f"{detections.labels[selected]} {detections.scores[selected]:.2f}: query {query} of {len(proposals)}, "
            f"the encoder's proposal{score} (dashed) refined by {trace.num_layers} decoder layers "
            f"(blue -> yellow); {SET_TEXT}")
