"""Run long one-off engine jobs (downloads, style optimisation, enrolment) off the GUI thread.

A job is either

* an iterator/generator: every yielded value is a progress report, the generator's return
  value (``StopIteration.value``) is the result; cancellation happens between two steps; or
* a callable ``job(control: JobControl) -> result`` for engine APIs that take a progress
  callback and a ``threading.Event`` for cancel (e.g. ``WeightsCache.fetch``): pass
  ``control.report`` and ``control.cancel_event`` through.

``JobRunner.start`` cancels the job that is still running on the same runner, and the stale
job's late signals are discarded, so the UI only ever hears about the newest request.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from engine.core.errors import Cancelled, UserError

log = logging.getLogger(__name__)

Job = Iterator[Any] | Callable[["JobControl"], Any]


# Raised inside a job (by ``JobControl.check``, or by an engine job that saw its cancel
# event) to stop it early: the engine's one cancellation signal.
JobCancelled = Cancelled


class JobControl:
    """What a running job sees: report progress, check for cancellation."""

    def __init__(self, emit_progress: Callable[[Any], None]) -> None:
        self.cancel_event = threading.Event()
        self._emit_progress = emit_progress

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def report(self, *progress: Any) -> None:
        """Send a progress report to the GUI; several arguments arrive as one tuple."""
        self._emit_progress(progress[0] if len(progress) == 1 else progress)

    def check(self) -> None:
        """Raise ``JobCancelled`` if the job was cancelled (call between steps)."""
        if self.cancel_event.is_set():
            raise JobCancelled()


class JobFailure(str):
    """What ``JobRunner.failed`` carries: the user-facing text, with the exception itself.

    A ``str`` so a handler can show it as it is; ``exception`` is the exception the job
    raised (with its type and traceback) for handlers that need more (``AppContext.error``
    shows a ``UserError``'s what and todo apart). The text names the exception's type
    unless it is a ``UserError``, whose message is written for users already.
    """

    exception: BaseException

    def __new__(cls, exception: BaseException) -> "JobFailure":
        text = str(exception).strip()
        if not text:
            text = type(exception).__name__
        elif not isinstance(exception, UserError):
            text = f"{type(exception).__name__}: {text}"
        failure = super().__new__(cls, text)
        failure.exception = exception
        return failure


class _JobSignals(QObject):
    """Lives on the GUI thread; emitted from the job thread, delivered queued."""

    progress = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, object)
    cancelled = Signal(int)


class JobRunner(QObject):
    """Runs one job at a time on a background thread.

    Signals (always delivered on the GUI thread, only for the current job):
        progress(object): whatever the job yielded / reported.
        finished(object): the job's result.
        failed(JobFailure): the job raised; a ``str`` naming what went wrong, whose
            ``exception`` attribute is the exception itself.
        cancelled(): the job stopped because ``cancel()`` was called.
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()

    _ids = itertools.count(1)

    def __init__(self, parent: QObject | None = None, name: str = "job") -> None:
        super().__init__(parent)
        self.name = name
        self._current_id = 0
        self._control: JobControl | None = None
        self._thread: threading.Thread | None = None
        self._signals = _JobSignals(self)
        queued = Qt.ConnectionType.QueuedConnection
        self._signals.progress.connect(self._on_progress, queued)
        self._signals.finished.connect(self._on_finished, queued)
        self._signals.failed.connect(self._on_failed, queued)
        self._signals.cancelled.connect(self._on_cancelled, queued)

    # -- public API ------------------------------------------------------------------
    def start(self, job: Job) -> None:
        """Start ``job``; a job still running on this runner is cancelled first."""
        self.cancel()
        job_id = next(self._ids)
        self._current_id = job_id
        control = JobControl(lambda p: self._tell(self._signals.progress, job_id, p))
        self._control = control
        self._thread = threading.Thread(
            target=self._run, args=(job_id, job, control), name=f"{self.name}-{job_id}", daemon=True
        )
        self._thread.start()

    def cancel(self) -> None:
        """Ask the running job to stop at its next step (returns at once)."""
        if self._control is not None:
            self._control.cancel_event.set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job's thread ends; True if it did. For shutdown and tests."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def shutdown(self, timeout: float = 2.0) -> None:
        """Cancel and wait a little; the thread is a daemon, so a stuck job cannot block exit."""
        self.cancel()
        if not self.wait(timeout):
            log.warning("job %r did not stop within %.1f s", self.name, timeout)

    # -- job thread --------------------------------------------------------------------
    def _run(self, job_id: int, job: Job, control: JobControl) -> None:
        signals = self._signals

        def tell(signal, *args) -> None:
            self._tell(signal, job_id, *args)

        try:
            if callable(job) and not isinstance(job, Iterator):
                result = job(control)
            else:
                result = self._drive(job, control, lambda p: tell(signals.progress, p))
        except JobCancelled:
            tell(signals.cancelled)
            return
        except Exception as exc:  # report every failure; the GUI must keep running
            log.debug("job %r failed", self.name, exc_info=True)
            tell(signals.failed, JobFailure(exc))
            return
        if control.cancelled:
            tell(signals.cancelled)
        else:
            tell(signals.finished, result)

    def _tell(self, signal, job_id: int, *args) -> None:
        """Emit from the job thread. The runner's owner (a closed dialog, a tab torn down) may
        be gone while the job still ran: nobody is left to hear, which is no error of the job's."""
        try:
            signal.emit(job_id, *args)
        except RuntimeError:
            log.debug("job %r reported after its runner was deleted", self.name)

    @staticmethod
    def _drive(gen: Iterator[Any], control: JobControl, emit: Callable[[Any], None]) -> Any:
        while True:
            if control.cancelled:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()  # runs the generator's finally blocks (temp files, ...)
                raise JobCancelled()
            try:
                emit(next(gen))
            except StopIteration as stop:
                return stop.value

    # -- GUI thread: drop reports of stale jobs -------------------------------------
    @Slot(int, object)
    def _on_progress(self, job_id: int, value: object) -> None:
        if job_id == self._current_id:
            self.progress.emit(value)

    @Slot(int, object)
    def _on_finished(self, job_id: int, value: object) -> None:
        if job_id == self._current_id:
            self.finished.emit(value)

    @Slot(int, object)
    def _on_failed(self, job_id: int, message: JobFailure) -> None:
        if job_id == self._current_id:
            self.failed.emit(message)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._current_id:
            self.cancelled.emit()
