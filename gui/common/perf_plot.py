"""Performance panel: capture FPS, inference FPS and end-to-end latency over the last minute."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.common.strip_chart import StripChart

WINDOW_S = 60.0


class PerfPlot(QWidget):
    """Two stacked panels sharing a time axis (seconds before now, -60 .. 0).

    Top: frames per second (capture, inference). Bottom: latency in milliseconds from
    capture to result. Feed it with ``add_sample`` (e.g. twice a second); points older
    than ``WINDOW_S`` fall off.
    """

    def __init__(self, parent: QWidget | None = None, window_s: float = WINDOW_S) -> None:
        super().__init__(parent)
        self.setObjectName("perfPlot")
        self.window_s = window_s
        self._samples: deque[tuple[float, float, float, float]] = deque()  # (t, capture, inference, latency)
        self.chart = StripChart(["FPS", "latency (ms)"], window_s,
                                colours={"capture": (90, 170, 255), "inference": (255, 170, 60), "latency": (120, 220, 120)})
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chart)

    def add_sample(self, capture_fps: float, inference_fps: float, latency_ms: float | None,
                   now: float | None = None) -> None:
        """Append one sample (``now`` in time.monotonic() seconds) and redraw when shown.

        ``latency_ms`` None (no results yet) is drawn as a gap.
        """
        t = time.monotonic() if now is None else now
        self._samples.append((t, capture_fps, inference_fps, np.nan if latency_ms is None else latency_ms))
        while self._samples and t - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        if self.isVisible():
            self.redraw(t)

    def redraw(self, now: float | None = None) -> None:
        if not self._samples:
            return
        t = time.monotonic() if now is None else now
        data = np.asarray(self._samples, dtype=np.float64)
        x = data[:, 0] - t
        self.chart.set_panel(0, {"capture": (x, data[:, 1]), "inference": (x, data[:, 2])})
        self.chart.set_panel(1, {"latency": (x, data[:, 3])})

    def sample_count(self) -> int:
        return len(self._samples)

    def clear(self) -> None:
        self._samples.clear()
        self.chart.clear()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override) - a strip under the video, not half the window
        return QSize(800, 220)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.redraw()  # samples kept arriving while hidden
