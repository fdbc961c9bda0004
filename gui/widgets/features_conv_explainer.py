"""The "convolution explained" panel: a small input patch, a kernel, padding and stride,
and the output with its size from floor((n + 2p - f) / s) + 1.

The arithmetic is plain numpy in this module (``output_size``, ``cross_correlate``) so
the panel shows exactly what it computes; hovering an output cell outlines the input
window that produced it.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

#: Kernels a learner can pick; the larger ones are built by ``make_kernel``.
KERNELS = ("vertical edge", "horizontal edge", "box blur", "sharpen", "identity")


def output_size(n: int, f: int, p: int, s: int) -> int:
    """Output side of a convolution: floor((n + 2p - f) / s) + 1 (0 when the kernel does not fit)."""
    if s < 1:
        raise ValueError(f"stride must be at least 1, got {s}")
    span = n + 2 * p - f
    return span // s + 1 if span >= 0 else 0


def make_kernel(kind: str, f: int) -> np.ndarray:
    """An (f, f) float32 kernel of ``kind`` (one of KERNELS)."""
    if kind not in KERNELS:
        raise ValueError(f"unknown kernel '{kind}': use one of {', '.join(KERNELS)}")
    kernel = np.zeros((f, f), np.float32)
    middle = f // 2
    if kind == "vertical edge":
        kernel[:, :middle] = -1.0
        kernel[:, f - middle :] = 1.0
    elif kind == "horizontal edge":
        kernel[:middle, :] = -1.0
        kernel[f - middle :, :] = 1.0
    elif kind == "box blur":
        kernel[:] = 1.0 / (f * f)
    elif kind == "sharpen":
        kernel[:] = -1.0 / (f * f - 1) if f > 1 else 0.0
        kernel[middle, middle] = 2.0
    else:
        kernel[middle, middle] = 1.0
    return kernel


def example_patch(n: int) -> np.ndarray:
    """An (n, n) float32 patch in [0, 1]: a bright square on the right, for edges to find."""
    patch = np.zeros((n, n), np.float32)
    patch[n // 4 : n - n // 4, n // 2 :] = 1.0
    patch[n // 2, : n // 2] = 0.5
    return patch


def cross_correlate(patch: np.ndarray, kernel: np.ndarray, padding: int, stride: int) -> np.ndarray:
    """What a CNN's "convolution" computes: sum of kernel * window, zero padding, no flip.

    patch: (n, n); kernel: (f, f); returns (m, m) with m = output_size(n, f, p, s).
    """
    n, f = patch.shape[0], kernel.shape[0]
    m = output_size(n, f, padding, stride)
    padded = np.pad(patch, padding)
    out = np.zeros((m, m), np.float32)
    for i in range(m):
        for j in range(m):
            window = padded[i * stride : i * stride + f, j * stride : j * stride + f]
            out[i, j] = float((window * kernel).sum())
    return out


class _NumberGrid(QWidget):
    """A grid of numbers shaded by value; reports the hovered cell."""

    cell_hovered = Signal(int, int)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.values = np.zeros((0, 0), np.float32)
        self.border = 0  # cells around the edge drawn as padding
        self.highlight: tuple[int, int, int, int] | None = None  # row, col, height, width
        self.setMouseTracking(True)
        self.setMinimumSize(120, 140)

    def set_values(self, values: np.ndarray, border: int = 0) -> None:
        self.values, self.border = values, border
        self.update()

    def _cell(self) -> float:
        rows, cols = self.values.shape if self.values.size else (1, 1)
        return max(4.0, min((self.width() - 2) / max(cols, 1), (self.height() - 20) / max(rows, 1)))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))  # readable in light and dark themes
        painter.drawText(QRectF(0, 0, self.width(), 18), Qt.AlignmentFlag.AlignLeft, self.title)
        if not self.values.size:
            painter.drawText(QRectF(0, 20, self.width(), 40), Qt.AlignmentFlag.AlignLeft, "(empty: the kernel does not fit)")
            return
        cell = self._cell()
        low, high = float(self.values.min()), float(self.values.max())
        span = high - low if high > low else 1.0
        rows, cols = self.values.shape
        for r in range(rows):
            for c in range(cols):
                rect = QRectF(1 + c * cell, 20 + r * cell, cell, cell)
                pad = r < self.border or c < self.border or r >= rows - self.border or c >= cols - self.border
                level = int(40 + 180 * (self.values[r, c] - low) / span)
                painter.fillRect(rect, QColor(60, 60, 110) if pad else QColor(level, level, level))
                painter.setPen(QColor(90, 90, 90))
                painter.drawRect(rect)
                if cell >= 22:
                    painter.setPen(QColor(255, 255, 255) if level < 140 or pad else QColor(0, 0, 0))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{self.values[r, c]:.2g}")
        if self.highlight is not None:
            r, c, h, w = self.highlight
            painter.setPen(QPen(QColor(255, 80, 80), 2))
            painter.drawRect(QRectF(1 + c * cell, 20 + r * cell, w * cell, h * cell))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self.values.size:
            cell = self._cell()
            point: QPointF = event.position()
            col, row = int((point.x() - 1) // cell), int((point.y() - 20) // cell)
            if 0 <= row < self.values.shape[0] and 0 <= col < self.values.shape[1]:
                self.cell_hovered.emit(row, col)
        super().mouseMoveEvent(event)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(200, 220)


class ConvolutionExplainer(QWidget):
    """Input patch (with its zero padding), kernel and output side by side, with controls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("convolutionExplainer")
        self.n_spin = self._spin(3, 12, 7)
        self.f_spin = self._spin(1, 7, 3)
        self.p_spin = self._spin(0, 3, 0)
        self.s_spin = self._spin(1, 4, 1)
        self.kernel_combo = QComboBox()
        self.kernel_combo.addItems(KERNELS)
        form = QFormLayout()
        form.addRow("Input size n", self.n_spin)
        form.addRow("Kernel size f", self.f_spin)
        form.addRow("Padding p", self.p_spin)
        form.addRow("Stride s", self.s_spin)
        form.addRow("Kernel", self.kernel_combo)
        self.input_grid = _NumberGrid("Input (blue: zero padding)")
        self.kernel_grid = _NumberGrid("Kernel")
        self.output_grid = _NumberGrid("Output")
        self.formula = QLabel()
        self.formula.setObjectName("convFormula")
        self.formula.setWordWrap(True)
        grids = QHBoxLayout()
        for grid in (self.input_grid, self.kernel_grid, self.output_grid):
            grids.addWidget(grid, 1)
        top = QHBoxLayout()
        top.addLayout(form)
        top.addWidget(self.formula, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grids, 1)
        for spin in (self.n_spin, self.f_spin, self.p_spin, self.s_spin):
            spin.valueChanged.connect(self.recompute)
        self.kernel_combo.currentIndexChanged.connect(self.recompute)
        self.output_grid.cell_hovered.connect(self._show_window)
        self.output = np.zeros((0, 0), np.float32)
        self.recompute()

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    def recompute(self) -> None:
        n, f, p, s = self.n_spin.value(), self.f_spin.value(), self.p_spin.value(), self.s_spin.value()
        patch = example_patch(n)
        kernel = make_kernel(self.kernel_combo.currentText(), f)
        m = output_size(n, f, p, s)
        self.output = cross_correlate(patch, kernel, p, s) if m > 0 else np.zeros((0, 0), np.float32)
        self.input_grid.set_values(np.pad(patch, p), border=p)
        self.input_grid.highlight = None
        self.kernel_grid.set_values(kernel)
        self.output_grid.set_values(self.output)
        text = (
            f"<b>output size</b> = ⌊(n + 2p − f) / s⌋ + 1 = ⌊({n} + 2·{p} − {f}) / {s}⌋ + 1 = <b>{m}</b>"
            if m > 0
            else f"the {f}×{f} kernel is larger than the padded {n + 2 * p}×{n + 2 * p} input: no output"
        )
        if m > 0 and (n + 2 * p - f) % s:
            text += f"<br>({(n + 2 * p - f) % s} row(s)/column(s) at the far edge are never covered: the floor drops them)"
        self.formula.setText(text)

    def _show_window(self, row: int, col: int) -> None:
        s, f = self.s_spin.value(), self.f_spin.value()
        self.input_grid.highlight = (row * s, col * s, f, f)
        self.output_grid.highlight = (row, col, 1, 1)
        self.input_grid.update()
        self.output_grid.update()
