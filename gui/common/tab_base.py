"""The contract every feature tab follows (Detect, Faces, Style, Feature maps).

The main window owns the video pipeline; a tab only says *what* to run on each live
frame (``make_task``) and *how* to show the result (``on_result`` + ``paint_overlay``
or ``display_image``). Everything here is called on the GUI thread.

Coordinates: ``paint_overlay`` receives a painter already transformed so that one unit
is one pixel of the original frame, origin at the frame's top-left corner, x to the
right, y down — the same convention as engine boxes (x1 y1 x2 y2, frame pixels). Mirror
display and letterboxing are handled by the video view, not by the tab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QWidget

from gui.common.events import connect_event

if TYPE_CHECKING:  # the engine is imported lazily so a broken model module cannot stop the shell
    from engine.core.events import Controller, Event
    from engine.core.frame import Frame
    from engine.runtime.worker import Task, TaskResult
    from gui.common.context import AppContext

T = TypeVar("T")


class StudioTab(QWidget):
    """Base class of the four tabs.

    Subclasses set ``title`` and override the hooks they need; the defaults do nothing
    so a tab that only shows controls is valid.

    Signals:
        task_changed: emit when the model itself must be rebuilt (another model or
            weights picked); the main window then calls ``make_task()`` again and swaps the
            worker's task (a new generation: late results of the old one never arrive).
        settings_changed: emit when a live setting changed (threshold, layer, mode); the
            main window calls ``task_settings()`` and hands the snapshot to the worker,
            which applies it between frames on its own thread.
        status_message(str): a short line for the status bar.
    """

    title: str = "Tab"

    task_changed = Signal()
    settings_changed = Signal()
    status_message = Signal(str)

    def __init__(self, context: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context

    # -- the controller's events ------------------------------------------------------
    def listen(self, event: "Event[T]", slot: Callable[[T], Any]) -> Callable[[], None]:
        """Run ``slot(value)`` on the GUI thread whenever the engine ``event`` fires: at once
        when it fires on the GUI thread, queued when a worker thread fires it
        (``gui.common.events.connect_event``). Returns a function that disconnects."""
        return connect_event(event, self, slot)

    def follow(self, controller: "Controller") -> None:
        """Forward the events every controller has: ``task_changed`` and ``settings_changed``
        to this tab's signals of the same names, ``status`` to ``context.status``. Listeners
        the tab connects before this call run before the signals are emitted."""
        self.listen(controller.task_changed, lambda _none: self.task_changed.emit())
        self.listen(controller.settings_changed, lambda _none: self.settings_changed.emit())
        self.listen(controller.status, self.context.status)

    # -- what runs on the live feed ------------------------------------------------
    def make_task(self) -> "Task | None":
        """The task to run on every live frame while this tab is shown, or None for none.

        Called on the GUI thread; heavy work (building/moving the model) belongs in
        ``Task.load``, which the worker calls on its own thread.
        """
        return None

    def task_settings(self) -> object | None:
        """The current live settings as one frozen snapshot (None: the task has none)."""
        return None

    def on_result(self, result: "TaskResult") -> None:
        """A result of this tab's task arrived (GUI thread). Store what the overlay needs.

        The view repaints right after this returns, so there is no need to call update().
        """

    # -- how the result is shown ---------------------------------------------------
    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        """Draw boxes/labels/masks over the frame shown.

        ``painter`` is in frame pixel coordinates (see the module docstring); the frame
        size is given so the tab can scale line widths or fonts, e.g. ``max(1, w / 400)``.
        Also used for snapshots and recordings, so draw only from stored result data.
        """

    def raster_overlay(self, canvas: np.ndarray, scale: float, frame_width: int, frame_height: int) -> None:
        """Draw marks that change with every result (boxes, captions) into the picture itself.

        ``canvas``: uint8 BGRA (H, W, 4), the frame as shown, scaled by ``scale`` (canvas
        pixel = scale x frame pixel, same origin); draw with OpenCV/numpy and keep alpha at
        255. Runs before ``paint_overlay``, once per result and view size (snapshots: scale
        1). Why: QPainter calls keep the interpreter lock that the inference thread needs;
        OpenCV releases it. Call ``context.request_repaint()`` after changing what it draws.
        """

    def display_image(self, frame: "Frame") -> np.ndarray | None:
        """An image to show instead of ``frame.image`` (e.g. the stylised feed), or None.

        Returns uint8 BGR (H, W, 3). It may have a different size than the camera frame;
        overlays are then painted in the coordinates of the returned image.
        """
        return None

    # -- keys ----------------------------------------------------------------------
    def tab_key(self, key: int, pressed: bool, auto_repeat: bool) -> bool:
        """A plain key (no Ctrl/Alt/Meta) pressed (``pressed``) or released while this tab is
        shown, whatever widget has focus, text fields excepted (gui.shell.tab_keys). ``key``:
        a ``Qt.Key`` value. Return True when the tab used it (the focused widget then never
        sees it)."""
        return False

    # -- life cycle ----------------------------------------------------------------
    def activated(self) -> None:
        """The tab became the visible one (its task is about to start)."""

    def deactivated(self) -> None:
        """Another tab became visible; stop anything that only makes sense while shown."""

    def shutdown(self) -> None:
        """The application is closing: cancel jobs, save settings, release resources."""
