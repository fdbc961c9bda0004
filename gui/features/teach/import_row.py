"""Importing a folder into a Teach project off the GUI thread, with progress and Cancel.

A folder of thousands of pictures takes a while to read and copy; on the GUI thread that
froze the window. ``ImportRow`` runs an import job (a generator yielding (pictures done,
pictures in all) and returning a summary: ``DetectorProject.import_yolo_job``,
``TeachProject.import_folder_job``) on a ``JobRunner`` and shows a progress bar with a
Cancel button while it runs. Nothing else may change the project until ``running`` is
False again (the job writes the project's files and its class list): the row disables
the other widgets of the page it is given (``page``), and ``started`` and ``ended``
tell the page's own code.

Cancel stops between two pictures: what was copied so far stays in the project (each
picture is stored whole), and ``ended`` carries how many.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class ImportRow(QWidget):
    """A progress row, hidden while no import runs (``context``: the tab's AppContext;
    ``page``: the widget whose other direct children are disabled meanwhile).

    Signals: started(); ended(summary or None, pictures done): after success (the job's
    return value), failure (None; the error was shown) or Cancel (None)."""

    started = Signal()
    ended = Signal(object, int)

    def __init__(self, context, page: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context, self.page = context, page
        self.runner = context.job_runner("teach-import", self)
        self.runner.progress.connect(self._progress)
        self.runner.finished.connect(lambda summary: self._end(summary))
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(lambda: self._end(None))
        self._done = 0
        self._running = False
        self.label = QLabel("Importing…")
        self.bar = QProgressBar()
        self.bar.setObjectName("importProgress")
        self.bar.setFormat("%v / %m pictures")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelImport")
        self.cancel_button.clicked.connect(self.runner.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self.hide()

    @property
    def running(self) -> bool:
        return self._running

    def start(self, job, folder: str) -> None:
        """Run ``job``, the import of ``folder`` (named in the row), in the background."""
        self._done = 0
        self._running = True
        self.bar.setRange(0, 0)  # busy until the folder's labels are read and the count is known
        self.label.setText(f"Importing {Path(folder).name}…")  # the bar needs the width; the path is the tooltip
        self.label.setToolTip(str(folder))
        self.show()
        self._lock_page(True)
        self.started.emit()
        self.runner.start(job)

    def _progress(self, report) -> None:
        done, total = report
        self._done = int(done)
        if self.bar.maximum() != total:
            self.bar.setRange(0, int(total))
        self.bar.setValue(int(done))

    def _failed(self, failure) -> None:
        self.context.error("Folder not imported", failure)
        self._end(None)

    def _lock_page(self, locked: bool) -> None:
        for child in self.page.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if child is not self:
                child.setEnabled(not locked)

    def _end(self, summary) -> None:
        self._running = False
        self.hide()
        self._lock_page(False)
        self.ended.emit(summary, self._done)
