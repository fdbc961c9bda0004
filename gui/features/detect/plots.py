"""The Detect tab's plots, redrawn when a sample arrives (twice a second), never per frame.

RatePlot: results per second (how often a new detection result arrives; the camera may
deliver more frames) and end-to-end latency in milliseconds (capture -> result).
CountsPlot: counts over the last minutes: in/out totals per line, objects inside per zone.
Both are StripCharts: painting them costs the GUI thread a blit and a few polylines.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.common.strip_chart import StripChart


def _wrap(widget: QWidget, chart: StripChart) -> None:
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(chart)


class RatePlot(QWidget):
    def __init__(self, parent: QWidget | None = None, window_s: float = 60.0) -> None:
        super().__init__(parent)
        self.setObjectName("detectRatePlot")
        self.window_s = window_s
        self._samples: deque[tuple[float, float, float]] = deque()
        self._stale = False  # samples arrived since the last redraw
        self.chart = StripChart(["results/s", "latency (ms)"], window_s,
                                colours={"results/s": (90, 170, 255), "latency": (120, 220, 120)})
        _wrap(self, self.chart)

    def add_sample(self, results_per_s: float, latency_ms: float, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        self._samples.append((t, results_per_s, latency_ms))
        while self._samples and t - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        self._stale = True

    def redraw(self) -> None:
        """Show the samples (a no-op when hidden or when nothing arrived since the last one)."""
        if not self._samples or not self.isVisible() or not self._stale:
            return
        data = np.asarray(self._samples, np.float64)
        x = data[:, 0] - data[-1, 0]
        self.chart.set_panel(0, {"results/s": (x, data[:, 1])})
        self.chart.set_panel(1, {"latency": (x, data[:, 2])})
        self._stale = False

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._stale = True
        self.redraw()

    def sample_count(self) -> int:
        return len(self._samples)

    def clear(self) -> None:
        self._samples.clear()
        self._stale = True
        self.chart.clear()


class CountsPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detectCountsPlot")
        self.chart = StripChart(["count"], window_s=None)
        _wrap(self, self.chart)

    @property
    def curves(self) -> list[str]:
        return self.chart.curve_names(0)

    def set_series(self, series: dict) -> None:
        """name -> (x seconds before now, y); curves not in ``series`` are removed."""
        self.chart.set_panel(0, series)
