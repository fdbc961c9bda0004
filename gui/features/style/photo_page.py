"""The Style tab's Photo page: method and Gatys settings, run/cancel/save, progress, preview, loss curves.

Pure view: it reads and writes its widgets; the tab runs the job (engine.features.style.jobs) and
feeds the progress back through ``show_progress``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.features.style.inputs import bgr_pixmap
from gui.features.style.losses import LossPlot

METHODS = (("gatys", "Gatys optimisation (VGG-19)"), ("adain", "AdaIN quick preview"),
           ("fast", "Fast style (the Live page's model)"), ("palette", "Colour transfer only (no network)"))
COLOUR_MODES = (("none", "Take the style's colours"), ("luminance", "Keep the content's colours (luminance only)"),
                ("histogram", "Recolour the style to the content's palette"))


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def _weight_spin(value: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(3)
    spin.setRange(0.0, 1e9)
    spin.setValue(value)
    return spin


class StylePhotoPage(QWidget):
    """Widgets of photo mode; ``gatys_settings()`` reads them, ``apply_settings(info)`` writes them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.method_combo = QComboBox()
        for key, text in METHODS:
            self.method_combo.addItem(text, key)
        self.method_combo.currentIndexChanged.connect(self.update_method_widgets)
        form.addRow("Method", self.method_combo)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(64, 4096)
        self.size_spin.setSingleStep(64)
        self.size_spin.setValue(512)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Long side of the result; above 512 px the optimisation runs coarse to fine")
        form.addRow("Size", self.size_spin)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 5000)
        self.steps_spin.setValue(300)
        form.addRow("Steps", self.steps_spin)
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItem("L-BFGS", "lbfgs")
        self.optimizer_combo.addItem("Adam", "adam")
        form.addRow("Optimiser", self.optimizer_combo)
        self.content_weight_spin = _weight_spin(1.0)
        form.addRow("Content weight α", self.content_weight_spin)
        self.style_weight_spin = _weight_spin(1000.0)
        form.addRow("Style weight β", self.style_weight_spin)
        self.tv_weight_spin = _weight_spin(1.0)
        form.addRow("Smoothness (TV)", self.tv_weight_spin)
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setRange(0.0, 10.0)
        self.strength_spin.setSingleStep(0.1)
        self.strength_spin.setValue(1.0)
        self.strength_spin.setToolTip("Multiplies the style weight (AdaIN/fast: the style amount, capped at 1)")
        form.addRow("Style strength", self.strength_spin)
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.1, 4.0)
        self.scale_spin.setSingleStep(0.1)
        self.scale_spin.setValue(1.0)
        self.scale_spin.setToolTip("Size of the style image relative to the result: larger gives bigger strokes")
        form.addRow("Style scale", self.scale_spin)
        self.colour_combo = QComboBox()
        for key, text in COLOUR_MODES:
            self.colour_combo.addItem(text, key)
        form.addRow("Colours", self.colour_combo)
        self.init_combo = QComboBox()
        self.init_combo.addItem("Content photo", "content")
        self.init_combo.addItem("Noise", "noise")
        form.addRow("Start from", self.init_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        form.addRow("Seed", self.seed_spin)
        self.low_memory_check = QCheckBox("Low memory (for very large results; slower)")
        form.addRow("", self.low_memory_check)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Stylise")
        self.run_button.setObjectName("styleRun")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setEnabled(False)
        self.load_settings_button = QPushButton("Load settings from image…")
        for b in (self.run_button, self.cancel_button, self.save_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        layout.addWidget(self.load_settings_button)
        self.show_in_view_check = QCheckBox("Show the result in the main view (untick to see the camera)")
        self.show_in_view_check.setChecked(True)
        layout.addWidget(self.show_in_view_check)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.eta_label = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.progress_bar, 1)
        row.addWidget(self.eta_label)
        layout.addLayout(row)
        self.preview_label = QLabel("The result appears here while it forms.")
        self.preview_label.setObjectName("stylePreview")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumHeight(200)
        layout.addWidget(self.preview_label)
        self.loss_plot = LossPlot()
        layout.addWidget(self.loss_plot)
        self.update_method_widgets()

    def method(self) -> str:
        return self.method_combo.currentData()

    def update_method_widgets(self) -> None:
        gatys = self.method() == "gatys"
        for w in (self.steps_spin, self.optimizer_combo, self.content_weight_spin, self.style_weight_spin,
                  self.tv_weight_spin, self.scale_spin, self.init_combo, self.seed_spin, self.low_memory_check):
            w.setEnabled(gatys)

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.run_button.setEnabled(not busy)

    def gatys_settings(self):
        from engine.features.style.gatys import GatysSettings

        return GatysSettings(
            size=self.size_spin.value(), steps=self.steps_spin.value(), optimizer=self.optimizer_combo.currentData(),
            content_weight=self.content_weight_spin.value(), style_weight=self.style_weight_spin.value(),
            tv_weight=self.tv_weight_spin.value(), style_strength=self.strength_spin.value(),
            style_scale=self.scale_spin.value(), preserve_color=self.colour_combo.currentData(),
            init=self.init_combo.currentData(), seed=self.seed_spin.value(),
            low_memory=self.low_memory_check.isChecked())

    def apply_settings(self, info: dict[str, Any]) -> None:
        """Put saved settings (``engine.features.style.metadata`` info) back into the widgets."""
        from engine.features.style.gatys import GatysSettings

        method = info.get("method", "gatys")
        index = self.method_combo.findData(method)
        if index >= 0:
            self.method_combo.setCurrentIndex(index)
        raw = info.get("settings", {})
        if method == "gatys":
            s = GatysSettings.from_dict(raw)
            self.size_spin.setValue(s.size)
            self.steps_spin.setValue(s.steps)
            self.optimizer_combo.setCurrentIndex(self.optimizer_combo.findData(s.optimizer))
            self.content_weight_spin.setValue(s.content_weight)
            self.style_weight_spin.setValue(s.style_weight)
            self.tv_weight_spin.setValue(s.tv_weight)
            self.strength_spin.setValue(s.style_strength)
            self.scale_spin.setValue(s.style_scale)
            self.colour_combo.setCurrentIndex(self.colour_combo.findData(s.preserve_color))
            self.init_combo.setCurrentIndex(self.init_combo.findData(s.init))
            self.seed_spin.setValue(s.seed)
            self.low_memory_check.setChecked(s.low_memory)
        else:
            self.size_spin.setValue(int(raw.get("size", self.size_spin.value())))
            self.strength_spin.setValue(float(raw.get("alpha", 1.0)))
            self.colour_combo.setCurrentIndex(self.colour_combo.findData("luminance" if raw.get("preserve_color") else "none"))

    def start(self) -> None:
        self.loss_plot.clear()
        self.progress_bar.setValue(0)
        self.eta_label.setText("")
        self.save_button.setEnabled(False)
        self.set_busy(True)

    def show_preview(self, image: np.ndarray) -> None:
        self.preview_label.setPixmap(bgr_pixmap(image, 360))

    def show_progress(self, report: Any) -> None:
        """A StyleProgress of a step (notices are handled by the tab)."""
        self.progress_bar.setValue(int(100 * report.step / max(report.total_steps, 1)))
        self.eta_label.setText(f"level {report.level}/{report.levels} · ETA {fmt_seconds(report.eta_s)}")
        self.loss_plot.add(report.step, dict(report.losses), redraw=report.step % 5 == 0 or report.preview is not None)
