"""The strip of captured enrolment shots: thumbnails the user can reject before saving."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListView, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from gui.features.faces.thumbs import chip_icon


class ShotStrip(QWidget):
    """Shows the kept shots; "Reject selected" removes one (the capture then takes another).

    Signals: rejected(int) — index of the shot the user rejected.
    """

    rejected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("facesShotList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setIconSize(QSize(72, 72))
        self.list.setFixedHeight(104)
        self.list.setToolTip("Captured shots. Select one and press Reject to take it again.")
        self.reject_button = QPushButton("Reject selected")
        self.reject_button.setObjectName("facesRejectShot")
        self.reject_button.clicked.connect(self._reject_selected)
        side = QVBoxLayout()
        side.addWidget(self.reject_button)
        side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(side)

    def set_chips(self, chips: list[np.ndarray]) -> None:
        self.list.clear()
        for i, chip in enumerate(chips):
            item = QListWidgetItem(chip_icon(chip, 72), f"{i + 1}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.list.addItem(item)

    def _reject_selected(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.rejected.emit(row)
