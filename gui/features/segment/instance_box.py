"""The instance-model controls of the Segment tab (Mask R-CNN, Keypoint R-CNN): why they do
not run live, the buttons that run them on the paused frame or a photo, a busy bar while
they run, the short side they run at and the score threshold of what is drawn."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QWidget,
)

from engine.features.segment.still import STILL_SIDES


class InstanceBox(QGroupBox):
    """Signals: ``run_frame()``, ``open_photo()``, ``back_to_live()``, ``score(float)``, ``side(int)``."""

    run_frame = Signal()
    open_photo = Signal()
    back_to_live = Signal()
    score = Signal(float)
    side = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Instances and keypoints (not live)", parent)
        self.note_label = QLabel("Seconds per frame on a CPU: too slow for live video. Run it on the paused "
                                 "frame or on a photo; the picture stays until Back to live.")
        self.note_label.setObjectName("segmentInstanceNote")
        self.note_label.setWordWrap(True)
        self.run_button = QPushButton("Run on this frame")
        self.run_button.setToolTip("Pause on the newest frame and find its instances")
        self.run_button.clicked.connect(self.run_frame.emit)
        self.open_button = QPushButton("Open photo…")
        self.open_button.clicked.connect(self.open_photo.emit)
        self.live_button = QPushButton("Back to live")
        self.live_button.clicked.connect(self.back_to_live.emit)
        self.live_button.setEnabled(False)
        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("segmentBusy")
        self.busy_bar.setRange(0, 0)  # no percentage to give: the network is one call
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setVisible(False)
        self.state_label = QLabel("Live video; nothing run yet")
        self.state_label.setObjectName("segmentInstanceState")
        self.state_label.setWordWrap(True)
        self.side_combo = QComboBox()
        for side in STILL_SIDES:
            self.side_combo.addItem(f"{side} px" + (" (published, exact)" if side == 800 else ""), side)
        self.side_combo.setCurrentIndex(self.side_combo.findData(800))
        self.side_combo.setToolTip("Short side the network resizes the picture to; smaller is faster")
        self.side_combo.currentIndexChanged.connect(lambda _i: self.side.emit(int(self.side_combo.currentData())))
        self.score_slider = QSlider(Qt.Orientation.Horizontal)
        self.score_slider.setRange(5, 100)
        self.score_slider.setValue(50)
        self.score_slider.valueChanged.connect(lambda v: self.score.emit(v / 100.0))
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.live_button)
        form = QFormLayout(self)
        form.addRow(self.note_label)
        form.addRow(buttons)
        form.addRow(self.busy_bar)
        form.addRow(self.state_label)
        form.addRow("Network size", self.side_combo)
        form.addRow("Min. score", self.score_slider)

    def set_busy(self, busy: bool, text: str = "") -> None:
        """While a picture is being run: the busy bar shows and the run buttons wait."""
        self.busy_bar.setVisible(busy)
        self.run_button.setEnabled(not busy)
        self.open_button.setEnabled(not busy)
        if text:
            self.state_label.setText(text)

    def set_paused(self, paused: bool) -> None:
        self.live_button.setEnabled(paused)
