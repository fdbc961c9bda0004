"""Teach a [Classifier | Detector]: the radio row at the top of the Teach tab."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QWidget

#: What the Teach tab can teach, in the order shown.
MODES = ("classifier", "detector")


class ModeSwitch(QWidget):
    """Emits ``chosen(mode)`` when the user picks a mode; ``show_mode`` marks one silently."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Teach a"))
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for mode in MODES:
            button = QRadioButton(mode.capitalize())
            button.setObjectName(f"mode_{mode}")
            self.group.addButton(button)
            self.buttons[mode] = button
            row.addWidget(button)
            button.toggled.connect(lambda on, m=mode: on and self.chosen.emit(m))
        row.addStretch(1)

    def show_mode(self, mode: str) -> None:
        button = self.buttons[mode]
        if not button.isChecked():
            button.blockSignals(True)
            button.setChecked(True)
            button.blockSignals(False)
