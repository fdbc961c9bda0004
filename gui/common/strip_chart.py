"""A strip chart for live numbers (rates, latencies, counts): cheap to repaint.

The live tabs show a few curves of the last minute beside a video that the model is
computing on. A general plotting library lays out its axes, ticks and legend in Python on
every repaint (measured with py-spy in the Detect tab: most of the GUI thread's time,
holding the interpreter lock the inference thread needs between operators). Here the
frame of the chart (background, grid, tick labels, legend) is drawn once into a pixmap
and redrawn only when the widget's size or a panel's value range changes; a repaint
blits it and draws one polyline per curve.

Coordinates: x is in seconds relative to now (≤ 0: the past); each panel's y axis starts
at 0 (or at the data's minimum when that is negative) and ends at the data's maximum plus
5 % rounded up to 1, 2 or 5 × 10^k, so the grid and labels stay put while values wobble.
NaN values break a curve (a gap, e.g. no result yet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

BACKGROUND = QColor(24, 24, 28)
GRID = QColor(255, 255, 255, 40)
TEXT = QColor(200, 200, 205)
PALETTE = ((90, 170, 255), (255, 170, 60), (120, 220, 120), (240, 90, 120), (200, 140, 255), (250, 230, 90))
LEFT_MARGIN, RIGHT_MARGIN, TOP_MARGIN, BOTTOM_MARGIN, PANEL_GAP = 46, 10, 6, 20, 8


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is ≥ ``value`` (1.0 for values ≤ 0 or NaN)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        candidate = step * 10.0 ** exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10.0 ** (exponent + 1)


def format_tick(value: float) -> str:
    """A tick label without a unit prefix: 0, 2.5, 40, 1200."""
    if value == 0:
        return "0"
    if abs(value) >= 10 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.2g}"


@dataclass
class Panel:
    """One plot area: a label for its y axis and named curves, each ((x, y), colour)."""

    label: str
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    colours: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    y_range: tuple[float, float] = (0.0, 1.0)


class StripChart(QWidget):
    """Stacked panels sharing one time axis of ``window_s`` seconds (None: fit the data).

    ``set_curve(panel, name, x, y)`` / ``set_panel(panel, {name: (x, y)})`` change data
    and schedule one repaint (Qt merges repaints). Colours come from ``colours`` or, in
    order of first appearance, from PALETTE.
    """

    def __init__(self, panels: list[str], window_s: float | None = 60.0, x_label: str = "seconds ago",
                 colours: dict[str, tuple[int, int, int]] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels = [Panel(label) for label in panels]
        self.window_s = window_s
        self.x_label = x_label
        self._colours = dict(colours or {})
        self._frame: QPixmap | None = None
        self._frame_key: tuple | None = None
        self._x_span = window_s or 1.0
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(60 * len(panels) + BOTTOM_MARGIN)
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(7.0, self._font.pointSizeF() * 0.85))
        self.paints = 0  # repaint counter, for tests and diagnostics

    # -- data ---------------------------------------------------------------------------
    def set_curve(self, panel: int, name: str, x: np.ndarray, y: np.ndarray) -> None:
        p = self.panels[panel]
        p.curves[name] = (np.asarray(x, np.float64), np.asarray(y, np.float64))
        self._colour(p, name)
        self._data_changed()

    def set_panel(self, panel: int, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace every curve of ``panel`` (curves not in ``curves`` disappear)."""
        p = self.panels[panel]
        p.curves = {name: (np.asarray(x, np.float64), np.asarray(y, np.float64)) for name, (x, y) in curves.items()}
        for name in p.curves:
            self._colour(p, name)
        self._data_changed()

    def clear(self) -> None:
        for p in self.panels:
            p.curves.clear()
        self._data_changed()

    def y_ticks(self, panel: int) -> list[tuple[float, str]]:
        """The grid values of ``panel``'s y axis and their labels, bottom to top."""
        low, high = self.panels[panel].y_range
        return [(value, format_tick(value)) for value in (low, (low + high) / 2, high)]

    def curve_names(self, panel: int) -> list[str]:
        return list(self.panels[panel].curves)

    def _colour(self, panel: Panel, name: str) -> None:
        if name not in panel.colours:
            panel.colours[name] = self._colours.get(name, PALETTE[len(panel.colours) % len(PALETTE)])

    def _data_changed(self) -> None:
        for p in self.panels:
            values = [y[np.isfinite(y)] for _, y in p.curves.values()]
            values = [v for v in values if v.size]
            high = max((float(v.max()) for v in values), default=0.0)
            low = min((float(v.min()) for v in values), default=0.0)
            # 5 % headroom: a curve at the ceiling would run along the panel's edge.
            p.y_range = (-nice_ceiling(-low * 1.05) if low < 0 else 0.0, nice_ceiling(high * 1.05))
        if self.window_s is None:
            xs = [x[np.isfinite(x)] for x, _ in (c for p in self.panels for c in p.curves.values())]
            oldest = min((float(x.min()) for x in xs if x.size), default=-1.0)
            self._x_span = nice_ceiling(-oldest)
        self.update()

    # -- geometry -----------------------------------------------------------------------
    def _panel_rects(self) -> list[QRectF]:
        w, h = self.width(), self.height()
        n = len(self.panels)
        usable = max(1.0, h - TOP_MARGIN - BOTTOM_MARGIN - PANEL_GAP * (n - 1))
        height = usable / n
        return [QRectF(LEFT_MARGIN, TOP_MARGIN + i * (height + PANEL_GAP), max(1.0, w - LEFT_MARGIN - RIGHT_MARGIN), height)
                for i in range(n)]

    def _to_points(self, rect: QRectF, y_range: tuple[float, float], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, high = y_range
        px = rect.right() + x / self._x_span * rect.width()
        py = rect.bottom() - (y - low) / max(high - low, 1e-12) * rect.height()
        return px, py

    def y_labels(self) -> list[tuple[QRectF, str]]:
        """The y tick labels drawn, with their boxes (widget pixels): bottom to top in each panel,
        panels top to bottom. A label that would overlap one already placed (short panels, the
        top of one panel next to the bottom of the one above) is left out; a panel's bottom
        label (its zero) goes first, so every panel keeps its baseline."""
        placed: list[tuple[QRectF, str]] = []
        for index, rect in enumerate(self._panel_rects()):
            for k, (_, label) in enumerate(self.y_ticks(index)):
                y = rect.bottom() - rect.height() * k / 2
                box = QRectF(0, min(max(0.0, y - 8), self.height() - 16), LEFT_MARGIN - 4, 16)
                if any(box.intersects(other) for other, _ in placed):
                    continue
                placed.append((box, label))
        return placed

    # -- painting -----------------------------------------------------------------------
    def _render_frame(self) -> QPixmap:
        """Background, grid, tick labels, panel labels and legends (no curves)."""
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(QSize(max(1, int(self.width() * ratio)), max(1, int(self.height() * ratio))))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(BACKGROUND)
        painter = QPainter(pixmap)
        painter.setFont(self._font)
        metrics = QFontMetrics(self._font)
        rects = self._panel_rects()
        step = nice_ceiling(self._x_span / 6)
        ticks = [step * k for k in range(int(self._x_span / step + 1e-9) + 1)]
        for index, (p, rect) in enumerate(zip(self.panels, rects)):
            painter.setPen(QPen(GRID, 1))
            for k in range(len(self.y_ticks(index))):
                y = rect.bottom() - rect.height() * k / 2
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            for seconds in ticks:
                x = rect.right() - seconds / self._x_span * rect.width()
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            painter.setPen(TEXT)
            painter.drawText(QPointF(rect.left() + 4, rect.top() + metrics.ascent() + 2), p.label)
            x = rect.right() - 4
            # A legend only where it tells curves apart (one curve is named by the panel label).
            for name in reversed(list(p.curves) if len(p.curves) > 1 else []):
                width = metrics.horizontalAdvance(name)
                x -= width
                painter.setPen(QColor(*p.colours[name]))
                painter.drawText(QPointF(x, rect.top() + metrics.ascent() + 2), name)
                x -= 12
        painter.setPen(TEXT)
        for box, label in self.y_labels():
            painter.drawText(box, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        bottom = rects[-1].bottom() if rects else self.height() - BOTTOM_MARGIN
        # Labels from the oldest to now; one that would touch its left neighbour is skipped.
        # The oldest carries the axis name ("60 seconds ago").
        right_edge = -1e9
        for i, seconds in enumerate(reversed(ticks)):
            x = rects[-1].right() - seconds / self._x_span * rects[-1].width() if rects else 0.0
            text = f"{format_tick(seconds)} {self.x_label}".strip() if i == 0 else format_tick(seconds)
            width = metrics.horizontalAdvance(text)
            left = x - 2 if i == 0 else min(x - width / 2, self.width() - width - 2)
            if left < right_edge + 8:
                continue
            painter.drawText(QPointF(left, bottom + 2 + metrics.ascent()), text)
            right_edge = left + width
        painter.end()
        return pixmap

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        key = (self.width(), self.height(), self.devicePixelRatioF(), self._x_span,
               tuple((p.y_range, tuple(p.curves), tuple(p.colours.items())) for p in self.panels))
        if self._frame is None or key != self._frame_key:
            self._frame, self._frame_key = self._render_frame(), key
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._frame)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for p, rect in zip(self.panels, self._panel_rects()):
            painter.setClipRect(rect.adjusted(0, -2, 0, 2))
            for name, (x, y) in p.curves.items():
                if x.size < 2:
                    continue
                painter.setPen(QPen(QColor(*p.colours[name]), 2))
                painter.drawPath(self._path(*self._to_points(rect, p.y_range, x, y)))
        painter.end()
        self.paints += 1

    @staticmethod
    def _path(px: np.ndarray, py: np.ndarray) -> QPainterPath:
        """Polyline through the finite points; a NaN starts a new segment."""
        path = QPainterPath()
        pen_down = False
        for x, y in zip(px.tolist(), py.tolist()):
            if math.isnan(x) or math.isnan(y):
                pen_down = False
                continue
            if pen_down:
                path.lineTo(x, y)
            else:
                path.moveTo(x, y)
                pen_down = True
        return path

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(800, 110 * len(self.panels))
