"""Weights downloads and imports in the GUI: the progress bar text and the busy state.

``DownloadJob`` wraps a ``gui.common.jobs.JobRunner`` for the model manager and the Detect tab.
Its ``busy`` flag is set when a job starts and cleared on the GUI thread when the job's
end is delivered, *before* ``finished``/``failed``/``cancelled`` are re-emitted. Asking the
runner whether its thread is alive instead is a race: the end signal is sent from the job
thread while that thread is still finishing, so buttons refreshed in the handler saw
"still running" and stayed disabled after a failed download.

Expected failures (offline, wrong file, full disk) are returned from the job as a
message rather than raised, so they reach the user as one line and never print a
traceback in the terminal; a bug still raises and is logged by the runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar

from gui.common.jobs import JobCancelled, JobControl, JobRunner

log = logging.getLogger(__name__)


def show_download_progress(bar: QProgressBar, done: int, total: int | None, filename: str) -> None:
    """Show a WeightsCache.fetch progress report on ``bar``: per-mille when the size is
    known, a busy bar otherwise."""
    from engine.models.cache import human_size

    if total:
        bar.setRange(0, 1000)
        bar.setValue(int(1000 * min(done, total) / total))
        bar.setFormat(f"{filename}: {human_size(done)} of {human_size(total)}")
    else:
        bar.setRange(0, 0)
        bar.setFormat(f"{filename}: {human_size(done)}")


@dataclass(frozen=True)
class _Failed:
    message: str


def _expected_errors() -> tuple[type[BaseException], ...]:
    from engine.models.cache import WeightsError

    return (WeightsError, ValueError, OSError)


class DownloadJob(QObject):
    """One download/import at a time on ``runner``, with a reliable ``busy`` flag.

    Signals (GUI thread; ``busy`` is already False when they arrive):
        progress(done, total or None, filename), finished(result), failed(message), cancelled().
    """

    progress = Signal(int, object, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._busy = False
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)

    @property
    def busy(self) -> bool:
        return self._busy

    def start(self, work: Callable[[JobControl], Any]) -> None:
        """Run ``work(control)`` on the job thread (a running job is cancelled first)."""
        from engine.models.cache import DownloadCancelled

        expected = _expected_errors()

        def job(control: JobControl) -> Any:
            try:
                return work(control)
            except DownloadCancelled as exc:
                raise JobCancelled() from exc
            except expected as exc:
                log.info("weights job failed: %s", exc)
                return _Failed(str(exc) or type(exc).__name__)

        self._busy = True
        self.runner.start(job)

    def cancel(self) -> None:
        self.runner.cancel()

    def _on_progress(self, report: object) -> None:
        if isinstance(report, tuple) and len(report) == 3:
            done, total, filename = report
            self.progress.emit(int(done), total, str(filename))

    def _on_finished(self, result: object) -> None:
        self._busy = False
        if isinstance(result, _Failed):
            self.failed.emit(result.message)
        else:
            self.finished.emit(result)

    def _on_failed(self, message: str) -> None:
        self._busy = False
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        self._busy = False
        self.cancelled.emit()
