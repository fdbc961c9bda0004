"""A picture label that shrinks to the width it is given instead of widening its panel.

A QLabel holding a pixmap asks for the pixmap's full width as its minimum, so one wide
picture (an augmentation strip, a confusion matrix) pushed the whole side panel wider
than the window and a horizontal scrollbar appeared. This label asks for at most
``min_width`` pixels, shows the picture at its natural size when there is room and
scales it down (aspect kept) when there is not.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class FitPicture(QLabel):
    """Shows ``set_picture``'s pixmap no wider than the label; never scales up."""

    def __init__(self, min_width: int = 96, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = QPixmap()
        self._min_width = min_width
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def set_picture(self, pixmap: QPixmap) -> None:
        self._source = QPixmap(pixmap)
        self._fit(self.width())
        self.updateGeometry()

    def source(self) -> QPixmap:
        """The picture at its natural size (what ``pixmap()`` shows may be scaled down)."""
        return self._source

    def _shown_width(self, width: int) -> int:
        return max(1, min(width, self._source.width()))

    def _fit(self, width: int) -> None:
        if self._source.isNull():
            self.clear()
            return
        shown = self._shown_width(width)
        if shown == self._source.width():
            super().setPixmap(self._source)
        else:
            super().setPixmap(self._source.scaledToWidth(shown, Qt.TransformationMode.SmoothTransformation))

    # -- size negotiation ------------------------------------------------------------
    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt naming)
        return not self._source.isNull()

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        if self._source.isNull():
            return 0
        return round(self._source.height() * self._shown_width(width) / self._source.width())

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, 0) if self._source.isNull() else self._source.size()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        if self._source.isNull():
            return QSize(0, 0)
        width = min(self._min_width, self._source.width())
        return QSize(width, self.heightForWidth(width))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit(event.size().width())
