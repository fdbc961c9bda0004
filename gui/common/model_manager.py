"""The model manager: every catalog entry with its install state; download, import, remove.

Downloads and imports run through ``gui.common.jobs.JobRunner`` so the window stays responsive
and a download can be cancelled between chunks (the cache never keeps a partial file).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.common import file_dialogs
from gui.common.download_progress import DownloadJob, show_download_progress
from gui.common.jobs import JobControl, JobRunner

if TYPE_CHECKING:
    from engine.models.cache import WeightsCache
    from engine.models.catalog import Catalog, CatalogEntry

log = logging.getLogger(__name__)

COLUMNS = ("Model", "Task", "Size", "License", "State")
INSTALLED = "installed"
MISSING = "missing"



class ModelManagerDialog(QDialog):
    """Lists ``catalog`` (default: the built-in one) against ``cache``.

    Signals:
        models_changed(): something was installed or removed (tabs may refresh pickers).
    """

    models_changed = Signal()

    def __init__(self, cache: "WeightsCache", catalog: "Catalog | None" = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if catalog is None:
            from engine.models.catalog import catalog as builtin_catalog

            catalog = builtin_catalog()
        self.setWindowTitle("Model manager")
        self.setObjectName("modelManager")
        self.resize(860, 460)
        self.cache = cache
        self.catalog = catalog
        self.entries: list[CatalogEntry] = catalog.entries()
        self.runner = JobRunner(self, name="model-manager")
        self.job = DownloadJob(self.runner, self)
        self.job.progress.connect(self._on_progress)
        self.job.finished.connect(self._on_job_finished)
        self.job.failed.connect(self._on_job_failed)
        self.job.cancelled.connect(self._on_job_cancelled)
        self._job_text = ""

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setOpenExternalLinks(True)
        self.message = QLabel()
        self.message.setObjectName("modelManagerMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.runner.cancel)

        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(lambda: self.download_selected())
        self.import_button = QPushButton("Import from file…")
        self.import_button.setToolTip("Install a weights file you already have (offline machines)")
        self.import_button.clicked.connect(self._choose_import_file)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: self.remove_selected(confirm=True))
        self.folder_button = QPushButton("Open folder")
        self.folder_button.clicked.connect(self.open_folder)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)

        buttons = QHBoxLayout()
        for button in (self.download_button, self.import_button, self.remove_button, self.folder_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        if not self.entries:
            layout.addWidget(QLabel("The catalog is empty: no feature package registered a model."))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(progress_row)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.refresh()
        if self.entries:
            self.table.selectRow(0)

    # -- table -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the install state of every entry (keeps the selection)."""

        selected = self.selected_entry()
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            state = INSTALLED if self.cache.is_installed(entry) else MISSING
            values = (entry.title or entry.name, entry.task, self.size_text(entry), entry.license, state)
            for column, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if column == 0:
                    item.setData(Qt.ItemDataRole.UserRole, entry.name)
                    item.setToolTip(entry.name)
                if column == len(values) - 1:
                    item.setForeground(Qt.GlobalColor.green if state == INSTALLED else Qt.GlobalColor.gray)
                self.table.setItem(row, column, item)
        if selected is not None:
            self.select(selected.name)
        self._update_buttons()

    def size_text(self, entry: "CatalogEntry") -> str:
        """The download size: the catalog's exact bytes, else the installed files' size on disk,
        else the catalog's approximate size ("≈"), else "not listed" (never a bare "?")."""
        from engine.models.cache import human_size

        if entry.size is not None:
            return human_size(entry.size)
        if self.cache.is_installed(entry):
            return human_size(sum(self.cache.path(entry, f.filename).stat().st_size for f in entry.files))
        approx = entry.meta.get("approx_size_mb") if isinstance(entry.meta, dict) else None
        if isinstance(approx, (int, float)) and approx > 0:
            return f"≈ {approx:.0f} MB" if approx >= 10 else f"≈ {approx:.1f} MB"
        return "not listed"

    def state_of(self, name: str) -> str:
        """"installed" or "missing", as shown in the table."""
        for row, entry in enumerate(self.entries):
            if entry.name == name:
                return self.table.item(row, len(COLUMNS) - 1).text()
        raise KeyError(name)

    def select(self, name: str) -> None:
        for row, entry in enumerate(self.entries):
            if entry.name == name:
                self.table.selectRow(row)
                return
        raise KeyError(f"no catalog entry '{name}' in the model manager")

    def selected_entry(self) -> "CatalogEntry | None":
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        row = rows[0].row()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _update_buttons(self) -> None:
        entry = self.selected_entry()
        busy = self.job.busy
        installed = entry is not None and self.cache.is_installed(entry)
        self.download_button.setEnabled(entry is not None and not installed and not busy)
        self.import_button.setEnabled(entry is not None and not busy)
        self.remove_button.setEnabled(installed and not busy)
        if entry is None:
            self.details.setText("")
            return
        files = ", ".join(f.filename for f in entry.files)
        source = f'<a href="{entry.source}">{entry.source}</a>' if entry.source.startswith("http") else entry.source
        self.details.setText(f"<b>{entry.name}</b> — {entry.description or entry.title}<br>"
                             f"Files: {files}<br>Source: {source}<br>License: {entry.license}")

    # -- actions ---------------------------------------------------------------------
    def download_selected(self) -> None:
        """Download the selected entry's missing files with progress and Cancel."""
        entry = self.selected_entry()
        if entry is None:
            return
        cache = self.cache

        def job(control: JobControl) -> Any:
            return cache.fetch(entry, progress=control.report, cancel=control.cancel_event)

        self._start(job, f"Downloading {entry.name}…")

    def import_from(self, path: str | Path, filename: str | None = None) -> None:
        """Install ``path`` as the selected entry's file (``filename``: which of its files)."""
        entry = self.selected_entry()
        if entry is None:
            self._show_error("Select a model first, then import its file.")
            return
        cache = self.cache
        self._start(lambda control: cache.import_file(entry, path, filename), f"Importing {Path(path).name}…")

    def _choose_import_file(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        names = [f.filename for f in entry.files]
        filename = None
        if len(names) > 1:
            filename, ok = QInputDialog.getItem(self, "Import", f"Which file of {entry.name} is it?", names, 0, False)
            if not ok:
                return
        path = file_dialogs.open_file(self, f"Import {filename or names[0]} for {entry.name}")
        if path:
            self.import_from(path, filename)

    def remove_selected(self, confirm: bool = True) -> bool:
        entry = self.selected_entry()
        if entry is None:
            return False
        if confirm:
            answer = QMessageBox.question(self, "Remove model", f"Delete the installed files of {entry.name}?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            removed = self.cache.remove(entry)
        except OSError as exc:
            self._show_error(f"Could not remove {entry.name}: {exc}")
            return False
        self.message.setText(f"Removed {entry.name}." if removed else f"{entry.name} was not installed.")
        self.refresh()
        self.models_changed.emit()
        return removed

    def open_folder(self) -> None:
        entry = self.selected_entry()
        folder = self.cache.folder(entry) if entry is not None and self.cache.folder(entry).exists() else self.cache.root
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- job plumbing ------------------------------------------------------------------
    def _start(self, job, text: str) -> None:
        self._job_text = text
        self.message.setStyleSheet("")
        self.message.setText(text)
        self.progress.setRange(0, 0)  # busy until the first report says how big it is
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.job.start(job)
        self._update_buttons()

    def _job_done(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.refresh()

    def _on_progress(self, done: int, total: object, filename: str) -> None:
        from engine.models.cache import human_size

        show_download_progress(self.progress, done, total, filename)
        self.message.setText(f"{self._job_text} {human_size(done)}")

    def _on_job_finished(self, result: object) -> None:
        self._job_done()
        self.message.setText(self._job_text.replace("…", "") + ": done.")
        self.models_changed.emit()

    def _on_job_failed(self, error: object) -> None:
        self._job_done()
        self._show_error(str(error))

    def _on_job_cancelled(self) -> None:
        self._job_done()
        self.message.setText("Cancelled; nothing was installed.")

    def _show_error(self, text: str) -> None:
        self.message.setStyleSheet("color: #e05050;")
        self.message.setText(text)

    def done(self, result: int) -> None:  # noqa: D401 (Qt override) - closing cancels a download
        self.runner.shutdown(timeout=1.0)
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.runner.cancel()
        super().closeEvent(event)
