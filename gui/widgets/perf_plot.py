"""Performance panel: capture FPS, inference FPS and end-to-end latency over the last minute."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QVBoxLayout, QWidget

WINDOW_S = 60.0


class PerfPlot(QWidget):
    """Two stacked plots sharing a time axis (seconds before now, -60 .. 0).

    Top: frames per second (capture, inference). Bottom: latency in milliseconds from
    capture to result. Feed it with ``add_sample`` (e.g. twice a second); points older
    than ``WINDOW_S`` fall off.
    """

    def __init__(self, parent: QWidget | None = None, window_s: float = WINDOW_S) -> None:
        super().__init__(parent)
        self.setObjectName("perfPlot")
        self.window_s = window_s
        self._samples: deque[tuple[float, float, float, float]] = deque()  # (t, capture, inference, latency)
        self.layout_widget = pg.GraphicsLayoutWidget()
        self.layout_widget.setBackground((24, 24, 28))
        self.fps_plot = self.layout_widget.addPlot(row=0, col=0)
        self.latency_plot = self.layout_widget.addPlot(row=1, col=0)
        for plot in (self.fps_plot, self.latency_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setXRange(-window_s, 0.0, padding=0.0)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
        self.latency_plot.setXLink(self.fps_plot)
        self.fps_plot.setLabel("left", "FPS")
        self.fps_plot.getAxis("bottom").setStyle(showValues=False)
        self.latency_plot.setLabel("left", "Latency", units="ms")
        self.latency_plot.setLabel("bottom", "seconds ago")
        self.fps_plot.addLegend(offset=(8, 4))
        self.capture_curve = self.fps_plot.plot(name="capture", pen=pg.mkPen((90, 170, 255), width=2))
        self.inference_curve = self.fps_plot.plot(name="inference", pen=pg.mkPen((255, 170, 60), width=2))
        self.latency_curve = self.latency_plot.plot(pen=pg.mkPen((120, 220, 120), width=2))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget)

    def add_sample(self, capture_fps: float, inference_fps: float, latency_ms: float | None,
                   now: float | None = None) -> None:
        """Append one sample (``now`` in time.monotonic() seconds) and redraw.

        ``latency_ms`` None (no results yet) is drawn as a gap.
        """
        t = time.monotonic() if now is None else now
        self._samples.append((t, capture_fps, inference_fps, np.nan if latency_ms is None else latency_ms))
        while self._samples and t - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        if self.isVisible():
            self.redraw(t)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override): catch up on what came while hidden
        super().showEvent(event)
        self.redraw()

    def redraw(self, now: float | None = None) -> None:
        if not self._samples:
            return
        t = time.monotonic() if now is None else now
        data = np.asarray(self._samples, dtype=np.float64)
        x = data[:, 0] - t
        self.capture_curve.setData(x, data[:, 1])
        self.inference_curve.setData(x, data[:, 2])
        self.latency_curve.setData(x, data[:, 3], connect="finite")

    def sample_count(self) -> int:
        return len(self._samples)

    def clear(self) -> None:
        self._samples.clear()
        for curve in (self.capture_curve, self.inference_curve, self.latency_curve):
            curve.setData([], [])

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override) - a strip under the video, not half the window
        return QSize(800, 220)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.redraw()  # samples kept arriving while hidden
