"""The Detect tab's plots (pyqtgraph), redrawn a few times a second, never per frame.

RatePlot: results per second (how often a new detection result arrives; the camera may
deliver more frames) and end-to-end latency in milliseconds (capture -> result). The
latency axis shows plain milliseconds: no SI prefix, so it never reads "kms".
CountsPlot: counts over the last minutes: in/out totals per line, objects inside per zone.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

_COLOURS = ((90, 170, 255), (255, 170, 60), (120, 220, 120), (240, 90, 120), (200, 140, 255), (250, 230, 90))


def _style(plot) -> None:
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)


class RatePlot(QWidget):
    def __init__(self, parent: QWidget | None = None, window_s: float = 60.0) -> None:
        super().__init__(parent)
        self.setObjectName("detectRatePlot")
        self.window_s = window_s
        self._samples: deque[tuple[float, float, float]] = deque()
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground((24, 24, 28))
        self.rate_plot = self.view.addPlot(row=0, col=0)
        self.latency_plot = self.view.addPlot(row=1, col=0)
        for plot in (self.rate_plot, self.latency_plot):
            _style(plot)
            plot.setXRange(-window_s, 0.0, padding=0.0)
        self.latency_plot.setXLink(self.rate_plot)
        self.rate_plot.setLabel("left", "results/s")
        self.rate_plot.getAxis("bottom").setStyle(showValues=False)
        self.latency_plot.setLabel("left", "latency (ms)")
        self.latency_plot.getAxis("left").enableAutoSIPrefix(False)
        self.latency_plot.setLabel("bottom", "seconds ago")
        self.rate_curve = self.rate_plot.plot(pen=pg.mkPen(_COLOURS[0], width=2))
        self.latency_curve = self.latency_plot.plot(pen=pg.mkPen(_COLOURS[2], width=2))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def add_sample(self, results_per_s: float, latency_ms: float, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        self._samples.append((t, results_per_s, latency_ms))
        while self._samples and t - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def redraw(self) -> None:
        if not self._samples or not self.isVisible():
            return
        data = np.asarray(self._samples, np.float64)
        x = data[:, 0] - data[-1, 0]
        self.rate_curve.setData(x, data[:, 1])
        self.latency_curve.setData(x, data[:, 2])

    def sample_count(self) -> int:
        return len(self._samples)

    def clear(self) -> None:
        self._samples.clear()
        self.rate_curve.setData([], [])
        self.latency_curve.setData([], [])


class CountsPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detectCountsPlot")
        self.view = pg.PlotWidget()
        self.view.setBackground((24, 24, 28))
        self.plot = self.view.getPlotItem()
        _style(self.plot)
        self.plot.setLabel("left", "count")
        self.plot.setLabel("bottom", "seconds ago")
        self.plot.addLegend(offset=(8, 4))
        self.curves: dict[str, pg.PlotDataItem] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def set_series(self, series: dict) -> None:
        """name -> (x seconds before now, y); curves not in ``series`` are removed."""
        for name in [n for n in self.curves if n not in series]:
            self.plot.removeItem(self.curves.pop(name))
        for i, (name, (x, y)) in enumerate(series.items()):
            curve = self.curves.get(name)
            if curve is None:
                curve = self.plot.plot(name=name, pen=pg.mkPen(_COLOURS[i % len(_COLOURS)], width=2),
                                       stepMode=None)
                self.curves[name] = curve
            curve.setData(x, y, connect="finite")
