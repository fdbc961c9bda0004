"""The Calibrate view: genuine/impostor distance histograms, the ROC, the EER and the
threshold for a chosen false-accept rate, with a button to use it."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class CalibratePanel(QWidget):
    """Signals: compute_requested(); use_threshold(float)."""

    compute_requested = Signal()
    use_threshold = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.calibration = None
        self.compute_button = QPushButton("Calibrate on my gallery")
        self.compute_button.setObjectName("facesCalibrate")
        self.compute_button.clicked.connect(self.compute_requested)
        self.far_spin = QDoubleSpinBox()
        self.far_spin.setObjectName("facesTargetFar")
        self.far_spin.setDecimals(2)
        self.far_spin.setRange(0.0, 50.0)
        self.far_spin.setSingleStep(0.5)
        self.far_spin.setValue(1.0)
        self.far_spin.setSuffix(" % FAR")
        self.far_spin.setToolTip("the false-accept rate you accept: the share of strangers taken for someone enrolled")
        self.far_spin.valueChanged.connect(self._update_threshold)
        self.use_button = QPushButton("Use this threshold")
        self.use_button.setObjectName("facesUseThreshold")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(lambda: self.use_threshold.emit(self.suggested))
        self.summary = QLabel("Genuine pairs: two shots of one person; impostors: shots of two people.")
        self.summary.setObjectName("facesCalibrationSummary")
        self.summary.setWordWrap(True)
        self.hist = pg.PlotWidget(title="distances")
        self.hist.setMinimumSize(120, 120)
        self.hist.addLegend(offset=(5, 5))
        self.roc = pg.PlotWidget(title="ROC")
        self.roc.setMinimumSize(120, 120)
        self.roc.setLabel("bottom", "FAR")
        self.roc.setLabel("left", "FRR")
        self.suggested = 0.0
        self.line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen((250, 200, 40), style=pg.QtCore.Qt.PenStyle.DashLine))
        row = QHBoxLayout()
        row.addWidget(self.compute_button)
        row.addWidget(self.far_spin)
        use_row = QHBoxLayout()
        use_row.addStretch(1)
        use_row.addWidget(self.use_button)
        plots = QHBoxLayout()
        plots.addWidget(self.hist)
        plots.addWidget(self.roc)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(use_row)
        layout.addWidget(self.summary)
        layout.addLayout(plots, 1)

    def show_message(self, text: str) -> None:
        self.calibration = None
        self.use_button.setEnabled(False)
        self.summary.setText(text)
        self.hist.clear()
        self.roc.clear()

    def show_calibration(self, cal) -> None:
        self.calibration = cal
        self.hist.clear()
        self.roc.clear()
        edges, genuine, impostor = cal.histograms()
        self.hist.plot(edges, genuine, stepMode="center", pen=pg.mkPen((60, 200, 90), width=2), name="genuine")
        self.hist.plot(edges, impostor, stepMode="center", pen=pg.mkPen((230, 70, 60), width=2), name="impostor")
        self.roc.plot(cal.far, cal.frr, pen=pg.mkPen((80, 160, 250), width=2))
        self.roc.plot([cal.eer], [cal.eer], pen=None, symbol="o", symbolBrush=(250, 200, 40))
        self.hist.addItem(self.line)
        self.use_button.setEnabled(True)
        self._update_threshold()

    def _update_threshold(self) -> None:
        cal = self.calibration
        if cal is None:
            return
        self.suggested = cal.threshold_at_far(self.far_spin.value() / 100.0)
        far, frr = cal.rates_at(self.suggested)
        self.summary.setText(
            f"{len(cal.genuine)} genuine and {len(cal.impostor)} impostor pairs. Equal error rate "
            f"{cal.eer:.1%} at {cal.eer_threshold:.3f}. For at most {self.far_spin.value():g} % false accepts use "
            f"{self.suggested:.3f} (measured: FAR {far:.1%}, FRR {frr:.1%})."
        )
        self.line.setValue(self.suggested)

