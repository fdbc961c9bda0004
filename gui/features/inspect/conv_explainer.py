"""The "convolution explained" panel: a small input patch, a kernel, padding, stride and
dilation, and the output with its size formula, for a plain, dilated, transposed or
1 x 1 convolution and for max and average pooling.

The arithmetic is plain numpy (``engine.features.inspect.conv_arith``) so the panel shows exactly
what it computes; hovering an output cell outlines the input cells it read (for a
transposed convolution, hovering an input cell outlines the output cells it writes).
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from engine.features.inspect.conv_arith import (
    OPERATIONS,
    cross_correlate,
    output_size,
    pointwise,
    pool,
    transposed_cells,
    transposed_convolve,
    transposed_output_size,
    window_cells,
)

log = logging.getLogger(__name__)
__all__ = ["ConvolutionExplainer", "cross_correlate", "make_kernel", "output_size"]

#: Kernels a learner can pick; the larger ones are built by ``make_kernel``.
KERNELS = ("vertical edge", "horizontal edge", "box blur", "sharpen", "identity")


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


class _NumberGrid(QWidget):
    """A grid of numbers shaded by value; reports the hovered cell."""

    cell_hovered = Signal(int, int)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.values = np.zeros((0, 0), np.float32)
        self.border = 0  # cells around the edge drawn as padding
        self.cells: list[tuple[int, int]] = []  # outlined cells (row, col)
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
        painter.setPen(QPen(QColor(255, 80, 80), 2))
        for r, c in self.cells:
            painter.drawRect(QRectF(1 + c * cell, 20 + r * cell, cell, cell))

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
    """Input patch (with its padding), kernel and output side by side, with controls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("convolutionExplainer")
        self.op_combo = QComboBox()
        self.op_combo.setObjectName("convOperation")
        self.op_combo.addItems(OPERATIONS)
        self.n_spin = self._spin(2, 12, 7)
        self.f_spin = self._spin(1, 7, 3)
        self.p_spin = self._spin(0, 3, 0)
        self.s_spin = self._spin(1, 4, 1)
        self.d_spin = self._spin(1, 3, 2)
        self.kernel_combo = QComboBox()
        self.kernel_combo.addItems(KERNELS)
        form = QFormLayout()
        form.addRow("Operation", self.op_combo)
        form.addRow("Input size n", self.n_spin)
        form.addRow("Kernel size f", self.f_spin)
        form.addRow("Padding p", self.p_spin)
        form.addRow("Stride s", self.s_spin)
        form.addRow("Dilation d", self.d_spin)
        form.addRow("Kernel", self.kernel_combo)
        self.input_grid = _NumberGrid("Input (blue: padding)")
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
        for spin in (self.n_spin, self.f_spin, self.p_spin, self.s_spin, self.d_spin):
            spin.valueChanged.connect(self.recompute)
        self.kernel_combo.currentIndexChanged.connect(self.recompute)
        self.op_combo.currentIndexChanged.connect(self.recompute)
        self.output_grid.cell_hovered.connect(self._show_window)
        self.input_grid.cell_hovered.connect(self._show_stamp)
        self.output = np.zeros((0, 0), np.float32)
        self.recompute()

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    @property
    def operation(self) -> str:
        return self.op_combo.currentText()

    def _params(self) -> tuple[int, int, int, int, int]:
        op = self.operation
        d = self.d_spin.value() if op in ("dilated convolution", "transposed convolution") else 1
        f = 1 if op == "1x1 convolution" else self.f_spin.value()
        p = 0 if op == "1x1 convolution" else self.p_spin.value()
        s = 1 if op == "1x1 convolution" else self.s_spin.value()
        return self.n_spin.value(), f, p, s, d

    def recompute(self) -> None:
        op = self.operation
        n, f, p, s, d = self._params()
        patch = example_patch(n)
        kernel = make_kernel(self.kernel_combo.currentText(), f)
        self.d_spin.setEnabled(op in ("dilated convolution", "transposed convolution"))
        self.kernel_combo.setEnabled("pooling" not in op and op != "1x1 convolution")
        border = p
        try:
            if op == "transposed convolution":
                m = transposed_output_size(n, f, p, s, d)
                self.output = transposed_convolve(patch, kernel, p, s, d) if m > 0 else np.zeros((0, 0), np.float32)
                border = 0
                text = (f"<b>output size</b> = (n − 1)·s − 2p + d·(f − 1) + 1 = ({n} − 1)·{s} − 2·{p} + {d}·({f} − 1) + 1 = <b>{m}</b>"
                        "<br>each input value stamps value × kernel onto the output (hover an input cell); overlaps add up")
            elif op == "1x1 convolution":
                channels = np.stack([patch, patch.T, 1 - patch])
                kernel = np.array([[0.5, 0.5, 0.0], [1.0, -1.0, 0.5]], np.float32)  # (C_out, C_in) channel mixing
                self.output = pointwise(channels, kernel)[0]
                m = n
                text = (f"<b>1×1 convolution</b> (network in network): each output pixel mixes the 3 input channels at the same pixel "
                        f"with one weight row; size kept: {n}×{n} → <b>{n}×{n}</b>, channels 3 → 2 (kernel: the 2×3 mixing weights; output channel 0 shown)")
            else:
                m = output_size(n, f, p, s, d)
                if "pooling" in op:
                    kind = "max" if op == "max pooling" else "average"
                    self.output = pool(patch, f, p, s, kind) if m > 0 else np.zeros((0, 0), np.float32)
                    kernel = np.full((f, f), 1.0 / (f * f) if kind == "average" else 1.0, np.float32)
                else:
                    self.output = cross_correlate(patch, kernel, p, s, d) if m > 0 else np.zeros((0, 0), np.float32)
                effective = d * (f - 1) + 1
                if m <= 0:
                    text = f"the {effective}×{effective} window is larger than the padded {n + 2 * p}×{n + 2 * p} input: no output"
                else:
                    what = {"max pooling": "the largest value of each window (no weights)", "average pooling": "the mean of each window (no weights)"}.get(op, "")
                    text = (f"<b>output size</b> = ⌊(n + 2p − d·(f − 1) − 1) / s⌋ + 1 = ⌊({n} + 2·{p} − {d}·({f} − 1) − 1) / {s}⌋ + 1 = <b>{m}</b>"
                            + (f"<br>dilation {d}: the {f}×{f} kernel spans {effective}×{effective} input cells with gaps" if d > 1 else "")
                            + (f"<br>{op}: {what}; the same size formula" if what else ""))
                    if (n + 2 * p - effective) % s:
                        text += f"<br>({(n + 2 * p - effective) % s} row(s)/column(s) at the far edge are never covered: the floor drops them)"
        except ValueError as exc:
            self.output, text = np.zeros((0, 0), np.float32), str(exc)
        self.input_grid.set_values(np.pad(patch, border), border=border)
        self.input_grid.cells = []
        self.kernel_grid.set_values(kernel)
        self.output_grid.set_values(self.output)
        self.output_grid.cells = []
        self.formula.setText(text)

    def _show_window(self, row: int, col: int) -> None:
        """Hovered output cell: outline the input cells it read."""
        op = self.operation
        n, f, p, s, d = self._params()
        if op == "transposed convolution":
            return
        self.input_grid.cells = [(row, col)] if op == "1x1 convolution" else window_cells(row, col, f, s, d)
        self.output_grid.cells = [(row, col)]
        self.input_grid.update()
        self.output_grid.update()

    def _show_stamp(self, row: int, col: int) -> None:
        """Hovered input cell of a transposed convolution: outline the output cells it writes."""
        if self.operation != "transposed convolution":
            return
        n, f, p, s, d = self._params()
        self.output_grid.cells = transposed_cells(row, col, f, p, s, d, size=self.output.shape[0])
        self.input_grid.cells = [(row, col)]
        self.input_grid.update()
        self.output_grid.update()
