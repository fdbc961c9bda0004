"""The legend of the Segment tab: one checkable row per VOC class (its colour, its name and
its share of the frame); unchecking a row hides that class from the overlay."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from engine.features.segment.catalog import VOC_CLASSES
from engine.features.segment.render import palette_bgr


def swatch(class_id: int, size: int = 14) -> QIcon:
    b, g, r = (int(v) for v in palette_bgr(len(VOC_CLASSES))[class_id])
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(r, g, b))
    return QIcon(pixmap)


class Legend(QListWidget):
    """Rows for class ids 1..20 (background is never drawn). Signal ``toggled(class_id, shown)``."""

    toggled = Signal(int, bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("segmentLegend")
        self._updating = False
        for class_id, name in enumerate(VOC_CLASSES):
            if class_id == 0:
                continue
            item = QListWidgetItem(swatch(class_id), name)
            item.setData(Qt.ItemDataRole.UserRole, class_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.addItem(item)
        self.itemChanged.connect(self._changed)

    def item_for(self, class_id: int) -> QListWidgetItem:
        return self.item(class_id - 1)

    def _changed(self, item: QListWidgetItem) -> None:
        if not self._updating:
            self.toggled.emit(int(item.data(Qt.ItemDataRole.UserRole)), item.checkState() == Qt.CheckState.Checked)

    def show_areas(self, shares: dict[int, float]) -> None:
        """Write each class's share of the frame beside its name; present classes first-sorted by the caller."""
        self._updating = True
        try:
            for class_id in range(1, len(VOC_CLASSES)):
                share = shares.get(class_id, 0.0)
                text = VOC_CLASSES[class_id] + (f"  {share:.1%}" if share > 0 else "")
                item = self.item_for(class_id)
                if item.text() != text:
                    item.setText(text)
        finally:
            self._updating = False
