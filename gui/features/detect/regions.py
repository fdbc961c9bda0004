"""The Detect tab's counting box: draw / rename / delete lines and zones, the counts
table, and the export of counting events."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class RegionsBox(QGroupBox):
    """``set_regions`` and ``set_rows`` show the controller's state. Rename… asks for the
    new name and emits ``rename_requested(kind, old name, new name)``; Delete emits
    ``delete_requested(kind, name)`` for the line or zone chosen in the list."""

    rename_requested = Signal(str, str, str)
    delete_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Counting lines and zones", parent)
        self.line_button = QPushButton("Draw line")
        self.line_button.setToolTip("Click the two ends of a line on the video; crossings are counted in and out")
        self.zone_button = QPushButton("Draw zone")
        self.zone_button.setToolTip("Click the corners of an area; click the first corner again to close it")
        self.finish_button = QPushButton("Finish zone")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete")
        self.export_button = QPushButton("Export events…")
        self.list = QListWidget()
        self.list.setObjectName("detectRegions")
        self.list.setMaximumHeight(110)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("detectCountsTable")
        self.table.setHorizontalHeaderLabels(["Region", "What", "Count"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(120)
        buttons = QGridLayout()
        for i, button in enumerate((self.line_button, self.zone_button, self.finish_button,
                                    self.rename_button, self.delete_button, self.export_button)):
            buttons.addWidget(button, i // 3, i % 3)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.list)
        layout.addWidget(self.table)
        self._rows: list[tuple] = []
        self.rename_button.clicked.connect(self._ask_rename)
        self.delete_button.clicked.connect(self._delete)

    def _ask_rename(self) -> None:
        current = self.current()
        if current is None:
            return
        name, ok = QInputDialog.getText(self, f"Rename the {current[0]}", "Name:", text=current[1])
        if ok:
            self.rename_requested.emit(current[0], current[1], name)

    def _delete(self) -> None:
        current = self.current()
        if current is not None:
            self.delete_requested.emit(*current)

    def set_regions(self, regions, drawing: str | None) -> None:
        current = self.current()
        self.list.clear()
        for kind, items in (("line", regions.lines), ("zone", regions.zones)):
            for item in items:
                entry = QListWidgetItem(f"{kind}: {item.name}")
                entry.setData(Qt.ItemDataRole.UserRole, (kind, item.name))
                self.list.addItem(entry)
                if (kind, item.name) == current:
                    self.list.setCurrentItem(entry)
        self.finish_button.setEnabled(drawing == "zone")
        has = self.list.count() > 0
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def current(self) -> tuple[str, str] | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def set_rows(self, rows: list[tuple[str, str, str, str]]) -> None:
        """(kind, name, what, value) rows; the table is only rebuilt when they changed."""
        if rows == self._rows:
            return
        self._rows = list(rows)
        self.table.setRowCount(len(rows))
        for r, (_kind, name, what, value) in enumerate(rows):
            for c, text in enumerate((name, what, value)):
                self.table.setItem(r, c, QTableWidgetItem(text))

    def texts(self) -> list[tuple[str, str, str]]:
        return [tuple(self.table.item(r, c).text() for c in range(3)) for r in range(self.table.rowCount())]
