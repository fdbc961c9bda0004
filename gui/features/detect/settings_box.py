"""The Detect tab's live settings: confidence, NMS IoU, input size, precision, grid,
tracking and the heat map.

Which of them a model offers is read from its catalog entry's ``capabilities`` through
the controller (``set_model_capabilities``): the input size row only for a model with a
network input (editable only when adjustable, with its multiple shown), the NMS IoU
slider only for "nms" post-processing, the grid box only with a grid view, the precision
choices the model and the device share, tracking only for models whose boxes can be
tracked.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSlider, QWidget

from engine.features.detect.controller import SIZE_PRESETS

GRID_TIPS = {
    "grid": "Each head's grid (YOLO: cells and anchors; YOLOX, anchor-free: one point per cell); select a "
            "detection to see the cell and anchor, or the point, that produced it",
    "set": "The encoder's proposals (faint, by score); select a detection to see its query's box refined "
           "by each decoder layer: one query per object, so no NMS is needed",
}
PRECISION_LABELS = {
    "auto": "Auto",
    "fp32": "Exact (float32)",
    "bf16": "Fast CPU mode (bfloat16)",
    "int8": "Fast CPU mode (int8)",
}
PRECISION_TIPS = {
    "auto": "The fastest mode whose detections agree with float32: bfloat16 on CPUs with AVX512-BF16/AMX, "
            "float32 elsewhere.",
    "fp32": "Float32 on the CPU (float16 on a GPU): the reference results.",
    "bf16": "About 1.8x faster on CPUs with AVX512-BF16/AMX; scores may differ by a few hundredths.",
    "int8": "Quantised convolutions (VNNI/AMX): the first 4 frames calibrate it; scores and boxes move slightly.",
}


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
        self.size_combo.setCurrentText(c.size_text)
        self.size_rule = QLabel()
        self.size_rule.setObjectName("detectSizeRule")
        self.precision_combo = QComboBox()
        self.precision_combo.setObjectName("detectPrecision")
        self.grid_check = QCheckBox("Show the grid")
        self.grid_check.setToolTip(GRID_TIPS["grid"])
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
        self.iou_row = _row(self.iou_slider, self.iou_label)
        self.size_row = _row(self.size_combo, self.size_rule)
        form = self.form = QFormLayout(self)
        form.addRow("Confidence", _row(self.conf_slider, self.conf_label))
        form.addRow("NMS IoU", self.iou_row)
        form.addRow("Input size", self.size_row)
        form.addRow("Precision", self.precision_combo)
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

    @property
    def precision(self) -> str:
        """The precision chosen in the combo box ("fp32" when it is empty)."""
        return self.precision_combo.currentData() or "fp32"

    def show_values(self) -> None:
        self.conf_label.setText(f"{self.conf:.2f}")
        self.iou_label.setText(f"{self.iou:.2f}")

    def set_model_capabilities(self, controller) -> None:
        """Show, hide, enable and fill the controls as the selected model's capabilities
        say (signals of the refilled boxes are blocked: nothing here is a user's choice)."""
        c = controller
        caps = c.capabilities
        size = caps.input_size
        self.form.setRowVisible(self.size_row, size is not None)
        self.size_combo.blockSignals(True)
        self.size_combo.clear()
        if size is not None and size.adjustable:
            self.size_combo.addItems(c.size_presets())
            width, height = c.effective_size  # what runs: a size saved for another model may not fit this one
            self.size_combo.setCurrentText(f"{width}x{height}")
            self.size_rule.setText(f"× {size.multiple}" if size.multiple > 1 else "")
            self.size_combo.setToolTip(f"Network input width x height: {size.rule}. "
                                       "Larger finds smaller objects, slower.")
            self.size_rule.setToolTip(f"Width and height are {size.rule}")
        elif size is not None:
            self.size_combo.setCurrentText(f"{size.default[0]}x{size.default[1]}")
            self.size_rule.setText("fixed")
            self.size_combo.setToolTip("This model resizes frames to its own input size")
            self.size_rule.setToolTip(self.size_combo.toolTip())
        self.size_combo.blockSignals(False)
        self.size_combo.setEnabled(size is not None and size.adjustable)
        self.form.setRowVisible(self.iou_row, caps.postprocess == "nms")
        choices = c.precision_choices()
        self.precision_combo.blockSignals(True)
        self.precision_combo.clear()
        for p in choices:
            # "Auto (fp32: no bf16 on this CPU)": the mode auto runs here, and why.
            text = f"Auto{c.auto_label[4:]}" if p == "auto" else PRECISION_LABELS.get(p, p)
            self.precision_combo.addItem(text, p)
            self.precision_combo.setItemData(self.precision_combo.count() - 1, PRECISION_TIPS.get(p, ""),
                                             Qt.ItemDataRole.ToolTipRole)
        self.precision_combo.setCurrentIndex(max(0, choices.index(c.effective_precision)))
        self.precision_combo.blockSignals(False)
        self.precision_combo.setEnabled(len(choices) > 1)
        self.precision_combo.setToolTip("Other precisions need a model that has them and a CPU with the kernels"
                                        if len(choices) <= 1 else PRECISION_TIPS.get(c.effective_precision, ""))
        self.form.setRowVisible(self.grid_check, caps.grid_view or caps.set_view)
        self.form.setRowVisible(self.grid_label, caps.grid_view or caps.set_view)
        self.grid_check.setText("Show the queries" if caps.set_view else "Show the grid")
        self.grid_check.setToolTip(GRID_TIPS["set" if caps.set_view else "grid"])
        self.track_check.setEnabled(caps.tracks)
