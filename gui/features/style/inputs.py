"""Style tab input widgets: an image well that takes files by click or drag and drop, and a
gallery of recently used style images (plus the presets shipped in resources/styles)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QWidget

from engine.core.paths import resources_dir
from gui.common import file_dialogs
from gui.common.video_view import bgr_to_qimage

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp);;All files (*)"
PRESETS_DIR = resources_dir() / "styles"


def bgr_pixmap(image: np.ndarray, max_side: int | None = None) -> QPixmap:
    """A QPixmap copy of a BGR uint8 image, scaled down to ``max_side`` if given."""
    pixmap = QPixmap.fromImage(bgr_to_qimage(image).copy())
    if max_side and max(pixmap.width(), pixmap.height()) > max_side:
        pixmap = pixmap.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    return pixmap


def _dropped_path(event: QDropEvent | QDragEnterEvent) -> str | None:
    mime = event.mimeData()
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                return url.toLocalFile()
    return None


class ImageWell(QLabel):
    """A thumbnail that accepts an image file: click to browse, or drop a file / an image on it.

    Signals:
        file_chosen(str): a path was clicked in the dialog or dropped.
        image_dropped(object): raw image data was dropped (BGR uint8 ndarray), e.g. from a browser.
    """

    file_chosen = Signal(str)
    image_dropped = Signal(object)

    def __init__(self, placeholder: str, parent: QWidget | None = None, side: int = 150) -> None:
        super().__init__(parent)
        self.placeholder = placeholder
        self.side = side
        self.setAcceptDrops(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(side, side * 3 // 4))
        self.setWordWrap(True)
        self.setFrameShape(QLabel.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{placeholder}: click to choose a file, or drop one here")
        self.clear_image()

    def clear_image(self) -> None:
        self.setPixmap(QPixmap())
        self.setText(f"{self.placeholder}\n(click or drop an image)")

    def show_image(self, image: np.ndarray) -> None:
        self.setPixmap(bgr_pixmap(image, self.side))

    def has_image(self) -> bool:
        return not self.pixmap().isNull()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            path = file_dialogs.open_file(self, self.placeholder, IMAGE_FILTER)
            if path:
                self.file_chosen.emit(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if _dropped_path(event) or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        path = _dropped_path(event)
        if path:
            self.file_chosen.emit(path)
            event.acceptProposedAction()
            return
        data = event.mimeData().imageData()
        if isinstance(data, QImage) and not data.isNull():
            from gui.common.video_view import qimage_to_bgr

            self.image_dropped.emit(qimage_to_bgr(data))
            event.acceptProposedAction()


class StyleGallery(QListWidget):
    """Recently used style images (newest first) followed by the shipped presets.

    Signals:
        style_chosen(str): the user clicked a style; the path of its file.
    """

    style_chosen = Signal(str)
    MAX_RECENT = 12

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("styleGallery")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(56, 56))
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setFixedHeight(96)
        self.setMovement(QListWidget.Movement.Static)
        self.recent: list[str] = []
        self.itemClicked.connect(lambda item: self.style_chosen.emit(item.data(Qt.ItemDataRole.UserRole)))

    @staticmethod
    def presets() -> list[str]:
        return sorted(str(p.resolve()) for p in PRESETS_DIR.glob("*.png")) if PRESETS_DIR.is_dir() else []

    def set_recent(self, paths: list[str]) -> None:
        self.recent = [p for p in paths if Path(p).is_file()][: self.MAX_RECENT]
        self._rebuild()

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        if path in self.presets():
            return
        self.recent = [path] + [p for p in self.recent if p != path]
        self.recent = self.recent[: self.MAX_RECENT]
        self._rebuild()

    def paths(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def _rebuild(self) -> None:
        self.clear()
        for path in self.recent + self.presets():
            icon = QIcon(QPixmap(path).scaled(56, 56, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation))
            name = Path(path).stem
            item = QListWidgetItem(icon, name[:12])
            item.setToolTip(path if path not in self.presets() else f"preset: {name}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.addItem(item)
