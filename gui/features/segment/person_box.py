"""The person-mode controls of the Segment tab: the background (blur, picture, colour), the
blur's strength, the network's processing size and the edge stabiliser."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

KINDS = (("blur", "Blur"), ("image", "Picture"), ("colour", "Colour"))


class PersonBox(QGroupBox):
    """Signals: ``background_kind(str)``, ``pick_picture()``, ``pick_colour()``, ``blur(int)``,
    ``side(int)``, ``stabilise(bool)``."""

    background_kind = Signal(str)
    pick_picture = Signal()
    pick_colour = Signal()
    blur = Signal(int)
    side = Signal(int)
    stabilise = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Person mode: background", parent)
        self.kind_combo = QComboBox()
        for key, text in KINDS:
            self.kind_combo.addItem(text, key)
        self.kind_combo.currentIndexChanged.connect(lambda _i: self.background_kind.emit(self.kind_combo.currentData()))
        self.picture_button = QPushButton("Picture…")
        self.picture_button.clicked.connect(self.pick_picture.emit)
        self.colour_button = QPushButton("Colour…")
        self.colour_button.clicked.connect(self.pick_colour.emit)
        self.blur_slider = QSlider(Qt.Orientation.Horizontal)
        self.blur_slider.setRange(2, 40)
        self.blur_slider.setValue(12)
        self.blur_slider.valueChanged.connect(self.blur.emit)
        self.side_spin = QSpinBox()
        self.side_spin.setRange(96, 520)
        self.side_spin.setSingleStep(32)
        self.side_spin.setValue(160)
        self.side_spin.setSuffix(" px")
        self.side_spin.setToolTip("Short side the network runs at; the mask is upsampled to the frame")
        self.side_spin.valueChanged.connect(self.side.emit)
        self.stabilise_check = QCheckBox("Steady edges (optical-flow stabiliser)")
        self.stabilise_check.setChecked(True)
        self.stabilise_check.toggled.connect(self.stabilise.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.kind_combo)
        buttons.addWidget(self.picture_button)
        buttons.addWidget(self.colour_button)
        form = QFormLayout(self)
        form.addRow("Background", buttons)
        form.addRow("Blur", self.blur_slider)
        form.addRow("Network size", self.side_spin)
        form.addRow(self.stabilise_check)

    def show_kind(self, kind: str) -> None:
        """Select ``kind`` without emitting (the controller refused a change)."""
        index = self.kind_combo.findData(kind)
        self.kind_combo.blockSignals(True)
        self.kind_combo.setCurrentIndex(index)
        self.kind_combo.blockSignals(False)
