"""Loss curves of a running style optimisation: content, style and total cost per step."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QVBoxLayout, QWidget

CURVES = (("total", (240, 240, 240)), ("content", (90, 170, 255)), ("style", (255, 150, 60)))


class LossPlot(QWidget):
    """Weighted cost terms against the step number (log y axis, as they span decades)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("styleLossPlot")
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setBackground((24, 24, 28))
        plot = self.plot_widget.getPlotItem()
        plot.setLogMode(y=True)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setLabel("bottom", "step")
        plot.setLabel("left", "cost")
        plot.addLegend(offset=(8, 4))
        plot.setMenuEnabled(False)
        self.curves = {name: plot.plot(name=name, pen=pg.mkPen(colour, width=2)) for name, colour in CURVES}
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {name: [] for name, _ in CURVES}
        self.plot_widget.setMinimumHeight(160)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    def clear(self) -> None:
        self.steps = []
        self.values = {name: [] for name in self.values}
        for curve in self.curves.values():
            curve.setData([], [])

    def add(self, step: int, losses: dict[str, float], redraw: bool = True) -> None:
        """Append the terms of one step; non-positive values are drawn as gaps (log scale)."""
        self.steps.append(step)
        for name in self.values:
            value = float(losses.get(name, np.nan))
            self.values[name].append(value if value > 0 else np.nan)
        if redraw:
            self.redraw()

    def redraw(self) -> None:
        x = np.asarray(self.steps, dtype=float)
        for name, curve in self.curves.items():
            curve.setData(x, np.asarray(self.values[name], dtype=float), connect="finite")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(320, 170)
