"""Detector mode's two lists: the classes (pick one to draw with; add, rename, remove) and
the strip of captured pictures with their box counts (pick one to review and edit)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from gui.features.teach.box_canvas import qcolour
from gui.features.teach.classes import thumbnail

STRIP_THUMB = 64


class DetectorClassList(QWidget):
    """The project's classes; ``class_chosen(int)`` when the user picks one, and the
    add/rename/remove requests (the mode asks the questions and changes the project)."""

    class_chosen = Signal(int)
    add_requested = Signal()
    rename_requested = Signal(int)
    remove_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("detectorClasses")
        self.list.setFixedHeight(96)
        self.list.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.list.currentRowChanged.connect(lambda row: row >= 0 and self.class_chosen.emit(row))
        self.add_button = QPushButton("+ Class")
        self.add_button.setObjectName("detectorAddClass")
        self.add_button.clicked.connect(self.add_requested)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(lambda: self.rename_requested.emit(self.list.currentRow()))
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self.list.currentRow()))
        buttons = QHBoxLayout()
        for button in (self.add_button, self.rename_button, self.remove_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)

    def set_classes(self, names: tuple[str, ...], counts: list[int], current: int) -> None:
        """Rows "key  name  (N boxes)" in class order, ``current`` selected (no signal)."""
        self.list.blockSignals(True)
        self.list.clear()
        for i, (name, count) in enumerate(zip(names, counts)):
            key = f"{i + 1}  " if i < 9 else "    "
            item = QListWidgetItem(f"{key}{name}   ({count} box{'es' if count != 1 else ''})")
            pixmap = QPixmap(12, 12)
            pixmap.fill(qcolour(i))
            item.setIcon(QIcon(pixmap))
            self.list.addItem(item)
        self.list.setCurrentRow(min(max(current, 0), len(names) - 1))
        self.list.blockSignals(False)

    def set_current(self, index: int) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentRow(index)
        self.list.blockSignals(False)


def strip_caption(boxes: int, unconfirmed: int) -> str:
    """"3 boxes", "no boxes", "3 boxes\n2 to confirm" (two lines under the thumbnail)."""
    text = f"{boxes} box{'es' if boxes != 1 else ''}" if boxes else "no boxes"
    return f"{text}\n{unconfirmed} to confirm" if unconfirmed else text


class PictureStrip(QListWidget):
    """Captured pictures, oldest first, each with its box count; ``picture_chosen(str)``."""

    picture_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pictureStrip")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setWordWrap(True)
        self.setMovement(QListWidget.Movement.Static)
        self.setIconSize(QSize(STRIP_THUMB, STRIP_THUMB))
        self.setFixedHeight(STRIP_THUMB + 52)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setToolTip("Your pictures: click one to review and edit its boxes")
        self.currentItemChanged.connect(self._on_current)

    def _item(self, picture_id: str) -> QListWidgetItem | None:
        for row in range(self.count()):
            item = self.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == picture_id:
                return item
        return None

    def add_picture(self, picture_id: str, image: np.ndarray | None, boxes: int, unconfirmed: int) -> None:
        item = QListWidgetItem(strip_caption(boxes, unconfirmed))
        if image is not None:
            item.setIcon(QIcon(thumbnail(image, STRIP_THUMB)))
        item.setData(Qt.ItemDataRole.UserRole, picture_id)
        item.setSizeHint(QSize(STRIP_THUMB + 44, STRIP_THUMB + 36))
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.addItem(item)

    def update_counts(self, picture_id: str, boxes: int, unconfirmed: int) -> None:
        item = self._item(picture_id)
        if item is not None:
            item.setText(strip_caption(boxes, unconfirmed))

    def remove_picture(self, picture_id: str) -> None:
        item = self._item(picture_id)
        if item is not None:
            self.takeItem(self.row(item))

    def select(self, picture_id: str) -> None:
        """Make ``picture_id`` current without announcing it (the caller shows it)."""
        item = self._item(picture_id)
        if item is not None:
            self.blockSignals(True)
            self.setCurrentItem(item)
            self.scrollToItem(item)
            self.blockSignals(False)

    def captions(self) -> list[str]:
        return [self.item(row).text() for row in range(self.count())]

    def _on_current(self, current: QListWidgetItem | None, _previous) -> None:
        if current is not None:
            self.picture_chosen.emit(current.data(Qt.ItemDataRole.UserRole))
