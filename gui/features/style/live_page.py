"""The Style tab's Live page: which model paints the feed, style amount, colours, processing
size, the flicker stabiliser, and the frame rate it gets.

Pure view: ``model_changed(name)`` when another model is picked (the task is rebuilt),
``settings_changed()`` for everything else (a new settings snapshot goes to the worker).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from engine.features.style.fast_style import MAX_SIDE, MIN_SIDE


class StyleLivePage(QWidget):
    model_changed = Signal(str)
    settings_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.live_label = QLabel("The camera feed is painted in the chosen style while this page is shown.")
        self.live_label.setObjectName("styleLiveLabel")
        self.live_label.setWordWrap(True)
        layout.addWidget(self.live_label)
        form = QFormLayout()
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("styleLiveModel")
        self.model_combo.currentIndexChanged.connect(self._on_model)
        form.addRow("Model", self.model_combo)
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(100)
        self.alpha_label = QLabel("1.00")
        self.alpha_slider.valueChanged.connect(self._on_alpha)
        row = QHBoxLayout()
        row.addWidget(self.alpha_slider, 1)
        row.addWidget(self.alpha_label)
        form.addRow("Style amount", row)
        self.live_colour_check = QCheckBox("Keep the camera's colours")
        self.live_colour_check.toggled.connect(lambda _c: self.settings_changed.emit())
        form.addRow("", self.live_colour_check)
        self.live_size_spin = QSpinBox()
        self.live_size_spin.setRange(MIN_SIDE, MAX_SIDE)
        self.live_size_spin.setSingleStep(32)
        self.live_size_spin.setValue(320)
        self.live_size_spin.setSuffix(" px")
        self.live_size_spin.setToolTip("Frames are stylised at this long side, then upscaled sharply to the view "
                                       "(half the size: about 4x the frame rate)")
        self.live_size_spin.valueChanged.connect(lambda _v: self.settings_changed.emit())
        form.addRow("Processing size", self.live_size_spin)
        self.stabilise_check = QCheckBox("Steady: reduce flicker (optical flow)")
        self.stabilise_check.setToolTip("Blend each frame with the previous result warped by optical flow, "
                                        "except where something new appears")
        self.stabilise_check.toggled.connect(lambda _c: self.settings_changed.emit())
        form.addRow("", self.stabilise_check)
        self.fps_label = QLabel("–")
        self.fps_label.setObjectName("styleLiveFps")
        form.addRow("Speed", self.fps_label)
        layout.addLayout(form)
        layout.addStretch(1)

    def set_options(self, options: Sequence, current: str) -> None:
        """Fill the model picker with ModelOption items without emitting model_changed."""
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for option in options:
            self.model_combo.addItem(option.label, option.name)
        index = self.model_combo.findData(current)
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.blockSignals(False)

    def model(self) -> str:
        return self.model_combo.currentData() or ""

    def strength(self) -> float:
        return self.alpha_slider.value() / 100.0

    def show_fps(self, fps: float, size: tuple[int, int] | None) -> None:
        where = f" at {size[0]}x{size[1]}" if size else ""
        self.fps_label.setText(f"{fps:.1f} fps{where}")

    def _on_model(self, _index: int) -> None:
        self.model_changed.emit(self.model())

    def _on_alpha(self, value: int) -> None:
        self.alpha_label.setText(f"{value / 100:.2f}")
        self.settings_changed.emit()
