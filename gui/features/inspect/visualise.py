"""The "Visualise" page: the image a unit, a channel or a class responds to most, found by
optimisation (engine.features.inspect.feature_vis), with a live preview, progress and cancel.

The page only collects the request and shows progress; the tab runs the engine job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.common import file_dialogs
from gui.features.inspect.views import array_to_qimage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VisRequest:
    """kind: "channel", "unit" or "class"; index: the channel or class; steps, size in pixels;
    from_frame: start from the current camera frame instead of noise."""

    kind: str
    index: int
    steps: int
    size: int
    from_frame: bool


class VisualisePage(QWidget):
    start_requested = Signal(object)  # VisRequest
    cancel_requested = Signal()
    save_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("visKind")
        for label, key in (("Channel of the layer", "channel"), ("Unit (centre of the channel)", "unit"), ("Class logit", "class")):
            self.kind_combo.addItem(label, key)
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 4095)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(8, 4096)
        self.steps_spin.setValue(256)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(32, 512)
        self.size_spin.setSingleStep(32)
        self.size_spin.setValue(224)
        self.from_frame = QCheckBox("Start from the camera frame (deep dream)")
        self.start_button = QPushButton("Visualise")
        self.start_button.setObjectName("visStart")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.save_button = QPushButton("Save image…")
        self.save_button.setEnabled(False)
        self.progress = QProgressBar()
        self.preview = QLabel("The picture appears here while it is optimised")
        self.preview.setObjectName("visPreview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(224, 224)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Maximise", self.kind_combo)
        form.addRow("Channel / class", self.index_spin)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Size (px)", self.size_spin)
        form.addRow(self.from_frame)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.save_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.caption)
        self.image: np.ndarray | None = None
        self.start_button.clicked.connect(self._start)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.save_button.clicked.connect(self._ask_save)

    def request(self) -> VisRequest:
        return VisRequest(str(self.kind_combo.currentData()), self.index_spin.value(), self.steps_spin.value(),
                          self.size_spin.value(), self.from_frame.isChecked())

    def _start(self) -> None:
        self.start_requested.emit(self.request())

    def _ask_save(self) -> None:
        path = file_dialogs.save_file(self, "Save the visualisation", "feature.png", "Images (*.png *.jpg)")
        if path:
            self.save_requested.emit(path)

    def set_running(self, running: bool, caption: str = "") -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if caption:
            self.caption.setText(caption)

    def show_step(self, step: int, steps: int, value: float, image: np.ndarray | None) -> None:
        self.progress.setRange(0, steps)
        self.progress.setValue(step)
        if image is not None:
            self.image = image
            side = max(64, min(self.preview.width(), self.preview.height()))
            self.preview.setPixmap(QPixmap.fromImage(array_to_qimage(image)).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                                                     Qt.TransformationMode.SmoothTransformation))
            self.save_button.setEnabled(True)
        self.caption.setText(f"step {step} of {steps}: objective {value:.3f}")
