"""The Detect tab's model box: catalog picker, install state, Download / Import file… / Cancel."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

INSTALLED_MARK = "  ✓ installed"


class _Picker(QComboBox):
    """The model picker: re-reads which models are installed each time it opens."""

    def __init__(self, on_open: Callable[[], None]) -> None:
        super().__init__()
        self._on_open = on_open

    def showPopup(self) -> None:  # noqa: N802 (Qt naming)
        self._on_open()
        super().showPopup()


class DetectModelBox(QGroupBox):
    """Widgets only; the tab connects them to its controller and job runner.

    ``is_installed(entry)``: marks installed models in the picker (``mark_installed``)."""

    def __init__(self, entries, parent: QWidget | None = None,
                 is_installed: Callable[[object], bool] | None = None) -> None:
        super().__init__("Model", parent)
        self._entries = list(entries)
        self._is_installed = is_installed
        self.combo = _Picker(self.mark_installed)
        self.combo.setObjectName("detectModel")
        for entry in self._entries:
            self.combo.addItem(entry.title, entry.name)
        self.mark_installed()
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

    def mark_installed(self) -> None:
        """Mark each installed model's item (the picker shows this whenever it opens)."""
        if self._is_installed is None:
            return
        for index, entry in enumerate(self._entries):
            self.combo.setItemText(index, entry.title + (INSTALLED_MARK if self._is_installed(entry) else ""))

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
