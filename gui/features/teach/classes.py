"""Class cards of the Teach tab: name, count, live thumbnails, hold-to-record, add files, drop images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.common.video_view import bgr_to_qimage

THUMB = 56
MAX_THUMBS = 40  # newest first; older samples stay in the project, only the strip is capped


def thumbnail(image: np.ndarray, size: int = THUMB) -> QPixmap:
    """A square thumbnail pixmap of a BGR image."""
    import cv2

    from engine.features.teach.imaging import square_crop

    small = cv2.resize(square_crop(image, 224), (size, size), interpolation=cv2.INTER_AREA)
    return QPixmap.fromImage(bgr_to_qimage(np.ascontiguousarray(small)).copy())


class ClassCard(QFrame):
    """One class. Signals carry the class id."""

    record_pressed = Signal(str)
    record_released = Signal(str)
    add_files_clicked = Signal(str)
    files_dropped = Signal(str, list)
    rename_requested = Signal(str, str)
    delete_requested = Signal(str)
    delete_sample_requested = Signal(str, str)  # class id, sample id

    def __init__(self, class_id: str, name: str, key: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.class_id = class_id
        self.setObjectName(f"classCard_{class_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAcceptDrops(True)
        self.name_edit = QLineEdit(name)
        self.name_edit.setObjectName("className")
        self.name_edit.editingFinished.connect(lambda: self.rename_requested.emit(self.class_id, self.name_edit.text()))
        self.count_label = QLabel("0 samples")
        self.record_button = QPushButton(f"Hold to record{f'  [{key}]' if key else ''}")
        self.record_button.setObjectName("recordButton")
        self.record_button.pressed.connect(lambda: self.record_pressed.emit(self.class_id))
        self.record_button.released.connect(lambda: self.record_released.emit(self.class_id))
        add = QPushButton("Add files…")
        add.clicked.connect(lambda: self.add_files_clicked.emit(self.class_id))
        delete = QToolButton()
        delete.setText("✕")
        delete.setToolTip("Delete this class and its samples")
        delete.clicked.connect(lambda: self.delete_requested.emit(self.class_id))
        self.thumbs = QListWidget()
        self.thumbs.setObjectName("thumbs")
        self.thumbs.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbs.setFlow(QListWidget.Flow.LeftToRight)
        self.thumbs.setWrapping(False)
        self.thumbs.setIconSize(QSize(THUMB, THUMB))
        self.thumbs.setFixedHeight(THUMB + 22)
        self.thumbs.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.thumbs.setToolTip("Select a sample and press Delete to remove it")
        self.thumbs.installEventFilter(self)

        top = QHBoxLayout()
        top.addWidget(self.name_edit, 1)
        top.addWidget(self.count_label)
        top.addWidget(delete)
        buttons = QHBoxLayout()
        buttons.addWidget(self.record_button, 1)
        buttons.addWidget(add)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.thumbs)

    def set_samples(self, samples: list[tuple[str, QPixmap]], total: int) -> None:
        """samples: (sample id, thumbnail) newest first; total: the class's sample count."""
        self.thumbs.clear()
        for sample_id, pixmap in samples[:MAX_THUMBS]:
            item = QListWidgetItem(QIcon(pixmap), "")
            item.setData(Qt.ItemDataRole.UserRole, sample_id)
            item.setSizeHint(QSize(THUMB + 6, THUMB + 6))
            self.thumbs.addItem(item)
        self.set_count(total)

    def prepend_sample(self, sample_id: str, pixmap: QPixmap, total: int) -> None:
        item = QListWidgetItem(QIcon(pixmap), "")
        item.setData(Qt.ItemDataRole.UserRole, sample_id)
        item.setSizeHint(QSize(THUMB + 6, THUMB + 6))
        self.thumbs.insertItem(0, item)
        while self.thumbs.count() > MAX_THUMBS:
            self.thumbs.takeItem(self.thumbs.count() - 1)
        self.set_count(total)

    def set_count(self, total: int) -> None:
        self.count_label.setText(f"{total} sample{'s' if total != 1 else ''}")

    def set_recording(self, on: bool) -> None:
        self.setStyleSheet("ClassCard { border: 2px solid #d33; }" if on else "")

    def delete_selected(self) -> None:
        for item in self.thumbs.selectedItems():
            self.delete_sample_requested.emit(self.class_id, item.data(Qt.ItemDataRole.UserRole))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        from PySide6.QtCore import QEvent

        if watched is self.thumbs and event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
            return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            self.files_dropped.emit(self.class_id, files)
            event.acceptProposedAction()


class ClassList(QWidget):
    """The cards in project order, plus an "Add class" button; ``card(class_id)`` finds one."""

    add_class_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: dict[str, ClassCard] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton("+ Add class")
        self.add_button.setObjectName("addClass")
        self.add_button.clicked.connect(self.add_class_clicked)
        self.rate_spin = QSpinBox()
        self.rate_spin.setObjectName("recordRate")
        self.rate_spin.setRange(1, 15)
        self.rate_spin.setValue(5)
        self.rate_spin.setSuffix(" samples/s")
        self.rate_spin.setToolTip("How many frames a held record button stores per second")
        row = QHBoxLayout()
        row.addWidget(self.add_button, 1)
        row.addWidget(QLabel("Record"))
        row.addWidget(self.rate_spin)
        self._layout.addLayout(row)

    def rebuild(self, classes: list[tuple[str, str]]) -> list[ClassCard]:
        """classes: (id, name) in order; returns the new cards (the caller connects them)."""
        for card in self.cards.values():
            card.setParent(None)
            card.deleteLater()
        self.cards = {}
        new = []
        for index, (class_id, name) in enumerate(classes):
            card = ClassCard(class_id, name, index + 1 if index < 9 else None)
            self._layout.insertWidget(self._layout.count() - 1, card)
            self.cards[class_id] = card
            new.append(card)
        return new

    def card(self, class_id: str) -> ClassCard | None:
        return self.cards.get(class_id)

    def card_at(self, index: int) -> ClassCard | None:
        cards = list(self.cards.values())
        return cards[index] if 0 <= index < len(cards) else None


def files_in(paths: list[str]) -> list[Path]:
    """Dropped paths, folders expanded to the files directly inside them."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p])
    return out
