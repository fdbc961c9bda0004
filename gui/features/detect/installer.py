"""Installing the Detect tab's model: the download job (with progress and cancel) and
the import of a weights file the user already has."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from gui.common import file_dialogs
from gui.common.download_progress import DownloadJob, show_download_progress


class ModelInstaller(QObject):
    """Drives ``model_box``'s Download / Import file… / Cancel for ``entry()``.

    Signals: installed(object entry) after a download or an import succeeded;
    state_changed() whenever the install or busy state may have changed.
    """

    installed = Signal(object)
    state_changed = Signal()

    def __init__(self, context, model_box, entry: Callable[[], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.box = model_box
        self.entry = entry
        self.runner = context.job_runner("detect-download", self)
        self.download = DownloadJob(self.runner, self)  # its busy flag has no end-of-thread race
        self.download.progress.connect(self._on_progress)
        self.download.finished.connect(self._on_finished)
        self.download.failed.connect(self._on_failed)
        self.download.cancelled.connect(self._on_cancelled)
        model_box.download_button.clicked.connect(self.download_selected)
        model_box.import_button.clicked.connect(self._choose_import_file)
        model_box.cancel_button.clicked.connect(self.download.cancel)
        self._downloading = None

    def download_selected(self) -> None:
        entry = self.entry()
        cache = self.context.weights_cache
        if entry is None or cache.is_installed(entry):
            return
        self._downloading = entry
        self.box.set_busy(True)
        self.download.start(lambda control: cache.fetch(entry, progress=control.report, cancel=control.cancel_event))
        self.state_changed.emit()
        self.context.status(f"Downloading {entry.name}…")

    def _on_progress(self, done: int, total, filename: str) -> None:
        show_download_progress(self.box.progress, done, total, filename)

    def _end(self) -> None:
        self.box.set_busy(False)
        self.state_changed.emit()

    def _on_finished(self, _paths) -> None:
        self._end()
        self.context.status(f"{self._downloading.name} installed")
        self.installed.emit(self._downloading)

    def _on_failed(self, error) -> None:
        self._end()
        self.context.error("Download failed", error)

    def _on_cancelled(self) -> None:
        self._end()
        self.context.status("Download cancelled; nothing was installed")

    def _choose_import_file(self) -> None:
        entry = self.entry()
        if entry is None or not entry.files:  # your own model: nothing to install
            return
        name = entry.files[0].filename
        path = file_dialogs.open_file(self.box, f"Import weights for {entry.name}",
                                      f"{name} (*{Path(name).suffix});;All files (*)")
        if path:
            self.import_weights(path)

    def import_weights(self, path: str | Path) -> bool:
        """Install ``path`` as the selected model's weights; errors go to the status bar/dialog."""
        entry = self.entry()
        if entry is None:
            return False
        from engine.models.cache import WeightsError
        try:
            self.context.weights_cache.import_file(entry, path, force=True)
        except (WeightsError, ValueError, OSError) as exc:
            self.context.error("Import failed", exc)
            return False
        self.context.status(f"{entry.name} installed from {Path(path).name}")
        self.state_changed.emit()
        self.installed.emit(entry)
        return True

    def shutdown(self) -> None:
        self.runner.shutdown()
