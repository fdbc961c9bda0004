"""The class filter (searchable checklist) and the live per-class counts of the Detect tab."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from gui.common.list_rows import set_row_texts
from gui.features.detect.overlay import class_qcolor


def _swatch(class_id: int) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(class_qcolor(class_id))
    return QIcon(pixmap)


class ClassFilter(QWidget):
    """Checkable class list with a search box; emits ``changed`` with the checked ids
    (None when every class is checked, i.e. no filtering)."""

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search classes…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_search)
        self.list = QListWidget()
        self.list.setObjectName("detectClassList")
        self.list.itemChanged.connect(self._on_item_changed)
        all_button, none_button = QPushButton("All"), QPushButton("None")
        all_button.clicked.connect(lambda: self.set_all(True))
        none_button.clicked.connect(lambda: self.set_all(False))
        buttons = QHBoxLayout()
        buttons.addWidget(all_button)
        buttons.addWidget(none_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._updating = False

    def set_classes(self, names: tuple[str, ...], checked: set[int] | None = None) -> None:
        self._updating = True
        self.list.clear()
        for i, name in enumerate(names):
            if not name or name in ("N/A", "__background__"):
                continue  # torchvision's unused COCO ids
            item = QListWidgetItem(_swatch(i), name)
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if checked is None or i in checked else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self._updating = False
        self._apply_search(self.search.text())

    def selected(self) -> set[int] | None:
        ids, total = set(), self.list.count()
        for row in range(total):
            item = self.list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                ids.add(int(item.data(Qt.ItemDataRole.UserRole)))
        return None if len(ids) == total else ids

    def set_all(self, checked: bool) -> None:
        """Check/uncheck the visible classes (all of them when no search is active)."""
        self._updating = True
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        for row in range(self.list.count()):
            item = self.list.item(row)
            if not item.isHidden():
                item.setCheckState(state)
        self._updating = False
        self.changed.emit(self.selected())

    def _apply_search(self, text: str) -> None:
        needle = text.strip().lower()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(bool(needle) and needle not in item.text().lower())

    def _on_item_changed(self, _item: QListWidgetItem) -> None:
        if not self._updating:
            self.changed.emit(self.selected())


class CountsList(QListWidget):
    """"label  count" rows, most frequent first, with the class colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detectCounts")

    def set_counts(self, counts: dict[str, int], class_ids: dict[str, int]) -> None:
        """Show ``counts`` (label -> n, in display order); rows that did not change are left
        alone (the list is refreshed 4 times a second and each Qt call holds the
        interpreter lock the inference thread needs)."""
        rows = list(counts.items())
        set_row_texts(self, [f"{label}  {n}" for label, n in rows])
        for i, (label, _n) in enumerate(rows):
            item = self.item(i)
            if item.data(Qt.ItemDataRole.UserRole) != label:  # a new class in this row: its colour
                cid = class_ids.get(label, 0)
                item.setIcon(_swatch(cid))
                item.setForeground(QBrush(class_qcolor(cid)))
                item.setData(Qt.ItemDataRole.UserRole, label)

    def texts(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
