"""The Detect tab's live settings: confidence, NMS IoU, input size, fast mode, grid,
tracking and the heat map."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QSlider, QWidget)

from engine.features.detect.controller import SIZE_PRESETS


def _slider(value: float) -> tuple[QSlider, QLabel]:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(1, 99)
    slider.setValue(int(round(min(max(value, 0.01), 0.99) * 100)))
    return slider, QLabel(f"{slider.value() / 100:.2f}")


def _row(*widgets) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(widgets):
        row.addWidget(widget, 1 if i == 0 else 0)
    return box


class SettingsBox(QGroupBox):
    """Widgets initialised from the controller's values; the tab connects the signals."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        c = controller
        self.conf_slider, self.conf_label = _slider(c.conf)
        self.iou_slider, self.iou_label = _slider(c.iou)
        self.size_combo = QComboBox()
        self.size_combo.setEditable(True)
        self.size_combo.addItems(SIZE_PRESETS)
        self.size_combo.setToolTip("Network input width x height, multiples of 32. Larger finds smaller objects, slower.")
        self.size_combo.setCurrentText(c.size_text)
        self.fast_check = QCheckBox("Fast CPU mode (bfloat16)")
        self.fast_check.setToolTip("About 1.8x faster on CPUs with AVX512-BF16/AMX; scores may differ by a few "
                                   "hundredths. Only for the CPU and YOLO models.")
        self.fast_check.setChecked(c.bf16)
        self.grid_check = QCheckBox("Show the grid (YOLO)")
        self.grid_check.setToolTip("Each head's grid; select a detection to see the cell and anchor that produced it")
        self.grid_check.setChecked(c.grid)
        self.grid_label = QLabel()
        self.grid_label.setWordWrap(True)
        self.grid_label.setObjectName("detectGridInfo")
        self.track_check = QCheckBox("Track objects (ids, counting)")
        self.track_check.setObjectName("detectTrack")
        self.track_check.setToolTip("Give each object a number that it keeps while it moves; needed for lines and zones")
        self.track_check.setChecked(c.tracking)
        self.heat_check = QCheckBox("Heat map of the last")
        self.heat_check.setChecked(c.show_heat)
        self.heat_minutes = QDoubleSpinBox()
        self.heat_minutes.setRange(0.5, 120.0)
        self.heat_minutes.setSuffix(" min")
        self.heat_minutes.setValue(c.heat_minutes)
        form = QFormLayout(self)
        form.addRow("Confidence", _row(self.conf_slider, self.conf_label))
        form.addRow("NMS IoU", _row(self.iou_slider, self.iou_label))
        form.addRow("Input size", self.size_combo)
        form.addRow(self.fast_check)
        form.addRow(self.grid_check)
        form.addRow(self.grid_label)
        form.addRow(self.track_check)
        form.addRow(_row(self.heat_check, self.heat_minutes))

    @property
    def conf(self) -> float:
        return self.conf_slider.value() / 100.0

    @property
    def iou(self) -> float:
        return self.iou_slider.value() / 100.0

    def show_values(self) -> None:
        self.conf_label.setText(f"{self.conf:.2f}")
        self.iou_label.setText(f"{self.iou:.2f}")

    def set_model_capabilities(self, adjustable: bool, fast_possible: bool) -> None:
        self.size_combo.setEnabled(adjustable)
        self.grid_check.setEnabled(adjustable)
        self.fast_check.setEnabled(adjustable and fast_possible)
