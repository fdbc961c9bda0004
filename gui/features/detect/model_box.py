"""The Detect tab's model box: catalog picker, install state, Download / Import file… / Cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class ModelBox(QGroupBox):
    """Widgets only; the tab connects them to its controller and job runner."""

    def __init__(self, entries, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.combo = QComboBox()
        self.combo.setObjectName("detectModel")
        for entry in entries:
            self.combo.addItem(entry.title, entry.name)
        self.state = QLabel()
        self.state.setObjectName("detectModelState")
        self.state.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.import_button = QPushButton("Import file…")
        self.import_button.setToolTip("Install a weights file you already have (offline machines)")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        layout.addWidget(self.state)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.import_button)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
