"""Transfer learning made visible: the backbone strip (frozen vs trained) and the PCA of the embeddings."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.features.teach.render import class_colour

_FILL = {"frozen": QColor(170, 180, 195), "trained": QColor(255, 150, 40), "unused": QColor(235, 235, 235)}


class BackboneStrip(QWidget):
    """One box per backbone block, input on the left; trained blocks orange, frozen grey, cut-off blocks pale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backboneStrip")
        self.setMinimumHeight(54)
        self.blocks: list = []  # engine.features.teach.controller.StripBlock
        self.head_trained = True

    def set_blocks(self, blocks: list) -> None:
        self.blocks = list(blocks)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        n = len(self.blocks) + 1  # + the head
        if n <= 1:
            return
        w = (self.width() - 4) / n
        h = self.height() - 20
        font = QFont()
        font.setPixelSize(10)
        painter.setFont(font)
        largest = max((b.params for b in self.blocks), default=1) or 1
        for i, block in enumerate(self.blocks + [None]):
            state = "trained" if block is None else block.state
            share = 1.0 if block is None else 0.35 + 0.65 * (block.params / largest) ** 0.5
            rect = QRectF(2 + i * w + 1, 2 + h * (1 - share) / 2, w - 2, h * share)
            painter.setPen(QPen(QColor(90, 90, 90), 1))
            painter.setBrush(_FILL[state])
            painter.drawRoundedRect(rect, 3, 3)
            label = "head" if block is None else block.name.replace("features.", "").replace("layer", "L")
            painter.setPen(QColor(40, 40, 40))
            painter.drawText(QRectF(2 + i * w, h + 2, w, 16), Qt.AlignmentFlag.AlignCenter, label)
        painter.end()


class EmbeddingScatter(QWidget):
    """Each sample's embedding projected on its first two principal components, coloured by class."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("pca")
        self.plot.setFixedHeight(240)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.legend = self.plot.addLegend(offset=(4, 4))
        self.caption = QLabel("Embeddings (PCA): each dot is a sample; classes that separate here are easy to learn.")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot)
        self.count = 0

    def set_points(self, points: np.ndarray, labels: np.ndarray, names: list[str]) -> None:
        self.plot.clear()
        self.legend.clear()
        self.count = len(points)
        for index, name in enumerate(names):
            mask = labels == index
            if not mask.any():
                continue
            b, g, r = class_colour(index)
            item = pg.ScatterPlotItem(points[mask, 0], points[mask, 1], size=8, brush=pg.mkBrush(r, g, b, 200),
                                      pen=pg.mkPen(60, 60, 60, 120), name=name)
            self.plot.addItem(item)
        if len(points) >= 3:
            # A few far-out samples must not squeeze the rest into a dot: frame the middle 96 %.
            lo, hi = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
            pad = (hi - lo) * 0.15 + 1e-6
            self.plot.setRange(xRange=(lo[0] - pad[0], hi[0] + pad[0]), yRange=(lo[1] - pad[1], hi[1] + pad[1]), padding=0)
