"""What a tab may use from the application: settings, weights, device, reporting, jobs.

Tabs receive one ``AppContext`` at construction. It is deliberately small, so a tab can be
tested on its own with ``AppContext.create()`` (no main window) — in that case status and
error messages are logged and kept in ``last_status`` / ``last_error`` for assertions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from engine.core.errors import UserError
from gui.common import file_dialogs
from gui.common.jobs import JobFailure, JobRunner
from gui.common.settings import QSettingsStore

if TYPE_CHECKING:
    import torch

    from engine.core.frame import Frame
    from engine.models.cache import WeightsCache
    from gui.common.video_view import VideoView

log = logging.getLogger(__name__)


def install_todo(model: str) -> str:
    """What to do in the app when the weights of catalog entry ``model`` are missing: the
    model manager's buttons, not the command line's ``models fetch``/``models import``."""
    return (f"open Models → Model manager… (Ctrl+M), select '{model}' and press Download, "
            "or Import from file… with a file you already have")


def what_and_todo(problem: str | BaseException) -> tuple[str, str]:
    """What was wrong and what to do, for a message box: a ``UserError``'s own parts (also
    when a ``JobFailure`` carries it); any other exception or text as one ``what``.

    Missing weights (``WeightsMissingError`` naming its model) get the app's way to install
    them instead of the command-line one that the engine's message gives."""
    from engine.models.cache import WeightsMissingError

    exception = problem.exception if isinstance(problem, JobFailure) else problem
    if isinstance(exception, WeightsMissingError) and exception.model:
        return exception.what or str(exception), install_todo(exception.model)
    if isinstance(exception, UserError):
        return exception.what or str(exception), exception.todo
    if isinstance(problem, BaseException):
        return str(problem) or type(problem).__name__, ""
    return str(problem), ""


class AppContext:
    """Shared services for tabs (all methods are for the GUI thread).

    Attributes:
        settings: the user's QSettings (INI), for the window's own state (geometry, last tab).
        store: the same file as the app's settings store (``engine.core.store.SettingsStore``):
            typed, validated reads. Tabs and their controllers keep their keys under a group
            named after the tab, e.g. ``store.get("Detect/conf", 0.25)``.
        device: the torch.device the engine runs on.
        video_view: the main window's video view, or None when there is no window.
            Its ``frame_clicked(float, float)`` signal gives clicks in frame pixels.
        last_status / last_error: the most recent messages (handy in tests).
    """

    def __init__(
        self,
        settings: QSettings,
        device: "torch.device",
        *,
        weights_cache: "WeightsCache | None" = None,
        status_sink: Callable[[str], None] | None = None,
        dialog_parent: QWidget | None = None,
        latest_frame: Callable[[], "Frame | None"] | None = None,
        video_view: "VideoView | None" = None,
        inference_fps: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.store = QSettingsStore(settings)
        file_dialogs.use_settings(settings)  # every file dialog remembers its folder here
        self.device = device
        self._weights_cache = weights_cache
        self._status_sink = status_sink
        self._dialog_parent = dialog_parent
        self._latest_frame = latest_frame
        self.video_view = video_view
        self._inference_fps = inference_fps
        self.last_status = ""
        self.last_error: tuple[str, str] | None = None
        self._runners: list[JobRunner] = []

    @classmethod
    def create(cls, settings: QSettings | None = None, device: str | None = None) -> "AppContext":
        """A stand-alone context: settings from ``gui.common.settings.open_settings()``, the engine's
        device choice (``device`` like "cpu"/"cuda"/None=auto), the default weights cache."""
        from engine.runtime.device import choose_device
        from gui.common.settings import open_settings

        return cls(settings if settings is not None else open_settings(), choose_device(device))

    # -- services -------------------------------------------------------------------
    @property
    def weights_cache(self) -> "WeightsCache":
        """The user's weights cache (``engine.models.cache.default_cache()``), built lazily."""
        if self._weights_cache is None:
            from engine.models.cache import default_cache

            self._weights_cache = default_cache()
        return self._weights_cache

    def latest_frame(self) -> "Frame | None":
        """The newest frame the source delivered (None when no source runs)."""
        return self._latest_frame() if self._latest_frame is not None else None

    def inference_fps(self) -> float | None:
        """Results per second of the live task, the number the status bar shows (counted at the
        worker), or None without a main window (a tab then measures its own)."""
        return self._inference_fps() if self._inference_fps is not None else None

    def status(self, message: str) -> None:
        """Show a short line in the status bar."""
        self.last_status = message
        log.info("status: %s", message)
        if self._status_sink is not None:
            self._status_sink(message)

    def error(self, title: str, message: str | BaseException, note: str = "") -> None:
        """Report a problem the user must see: a non-blocking dialog plus the status bar.

        ``message``: a sentence naming the file/camera/value and saying what to do, or the
        exception itself (also a ``JobFailure``): a ``UserError`` shows its ``what`` as the
        dialog's text and its ``todo`` below it. ``note``: a further sentence for the dialog
        (e.g. what the application does instead). ``last_error`` keeps the one line.
        """
        what, todo = what_and_todo(message)
        line = f"{what}: {todo}" if todo else what
        self.last_error = (title, f"{line}\n\n{note}" if note else line)
        log.warning("%s: %s", title, line)
        self.status(f"{title}: {line}")
        if self._dialog_parent is not None:
            box = QMessageBox(QMessageBox.Icon.Warning, title, what, QMessageBox.StandardButton.Ok,
                              self._dialog_parent)
            details = "\n\n".join(part for part in (todo[:1].upper() + todo[1:], note) if part)
            if details:
                box.setInformativeText(details)
            box.setObjectName("errorDialog")
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()  # window-modal but non-blocking: the video keeps running behind it

    def request_repaint(self) -> None:
        """Draw the overlays again now (e.g. after the tab changed an overlay setting)."""
        if self.video_view is not None:
            self.video_view.refresh_overlay()

    def job_runner(self, name: str = "job", parent: QObject | None = None) -> JobRunner:
        """A ``JobRunner`` for long jobs; the context cancels it when the app shuts down."""
        runner = JobRunner(parent, name=name)
        self._runners.append(runner)
        return runner

    def shutdown(self) -> None:
        """Cancel every job runner handed out (called by the main window on close)."""
        for runner in self._runners:
            runner.shutdown()
