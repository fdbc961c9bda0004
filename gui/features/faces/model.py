"""The Faces tab's model box (embedder, detector, upsampling, a note) and threshold row."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QWidget

from engine.features.faces.controller import DETECTOR_TITLES
from engine.features.faces.detectors import DETECTOR_NAMES

SLIDER_STEPS_PER_UNIT = 500  # slider value / 500 = distance


class ModelBox(QGroupBox):
    def __init__(self, detector: str, upsample: int, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.embedder_combo = QComboBox()
        self.embedder_combo.setObjectName("facesEmbedder")
        self.detector_combo = QComboBox()
        self.detector_combo.setObjectName("facesDetector")
        for combo in (self.embedder_combo, self.detector_combo):
            # Long model titles must not widen the tab column; the popup still shows them whole.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        for name in DETECTOR_NAMES:
            self.detector_combo.addItem(DETECTOR_TITLES[name], name)
        self.select_detector(detector)
        self.upsample_spin = QSpinBox()
        self.upsample_spin.setObjectName("facesUpsample")
        self.upsample_spin.setRange(0, 2)
        self.upsample_spin.setValue(upsample)
        self.upsample_spin.setToolTip("dlib-mmod: double the frame first to find faces under ~80 px (4x slower per step)")
        self.embedder_note = QLabel()
        self.embedder_note.setObjectName("facesEmbedderNote")
        self.embedder_note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Embedder", self.embedder_combo)
        form.addRow("Detector", self.detector_combo)
        form.addRow("Upsample", self.upsample_spin)
        form.addRow(self.embedder_note)

    def select_detector(self, name: str) -> None:
        self.detector_combo.blockSignals(True)
        self.detector_combo.setCurrentIndex(max(self.detector_combo.findData(name), 0))
        self.detector_combo.blockSignals(False)

    def show_embedders(self, embedders: list[tuple[str, dict]], current: str) -> None:
        self.embedder_combo.blockSignals(True)
        self.embedder_combo.clear()
        for name, info in embedders:
            self.embedder_combo.addItem(f"{name} — {info['title']}", name)
        self.embedder_combo.setCurrentIndex(self.embedder_combo.findData(current))
        self.embedder_combo.blockSignals(False)

    def show_info(self, info: dict) -> None:
        note = f"{info['metric']} distance, default threshold {info['threshold']:g}."
        if info["classical"]:
            note = ("Classical method (local binary patterns), not a neural network: works offline, "
                    "less accurate; shown for comparison and teaching. " + note)
        self.embedder_note.setText(note)


class ThresholdRow(QHBoxLayout):
    def __init__(self) -> None:
        super().__init__()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("facesThreshold")
        self.label = QLabel()
        self.reset = QPushButton("Default")
        self.addWidget(QLabel("Threshold"))
        self.addWidget(self.slider, 1)
        self.addWidget(self.label)
        self.addWidget(self.reset)

    def show(self, value: float, default: float, top: float) -> None:  # noqa: A003 - a layout has no show()
        self.slider.blockSignals(True)
        self.slider.setRange(0, round(top * SLIDER_STEPS_PER_UNIT))
        self.slider.setValue(round(value * SLIDER_STEPS_PER_UNIT))
        self.slider.blockSignals(False)
        self.label.setText(f"{value:.3f} (default {default:g})")
