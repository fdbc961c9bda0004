"""Frames and results on the GUI thread -> what the video view shows (and records).

The ``FramePresenter`` decides which picture and which result belong together (Synced or
Live mode); this class applies its decisions: hands results to the active tab, asks the
tab for a replacement picture (the stylised feed), shows it and feeds the recording.
Every failure of a tab reaches the status bar with its type and message.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot

if TYPE_CHECKING:
    from engine.core.frame import Frame
    from engine.runtime.worker import TaskResult
    from gui.live.presenter import Shown
    from gui.shell.main_window import MainWindow

log = logging.getLogger(__name__)


class LiveDisplay(QObject):
    """Connects the pipeline's frame/result signals to the view of ``window``."""

    #: How often (ms) to check whether frames are needed again (results stopped coming).
    CHECK_EVERY_MS = 200

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self._check = QTimer(self)
        self._check.setInterval(self.CHECK_EVERY_MS)
        self._check.timeout.connect(self.sync_frame_delivery)
        self._check.start()

    def sync_frame_delivery(self) -> None:
        """Hand frames to the GUI thread only while the presenter can show them."""
        self.window.pipeline.frames_wanted = self.window.presenter.needs_frames()

    @Slot(object)
    def on_frame(self, frame: "Frame") -> None:
        shown = self.window.presenter.frame(frame)
        if shown is not None:
            self.show(shown)
        self.sync_frame_delivery()

    @Slot(object)
    def on_result(self, result: "TaskResult") -> None:
        w = self.window
        tab = w.active_tab
        if tab is None or not w.presenter.accepts(result):
            return  # no tab, or computed on the previous source: never drawn on the new picture
        try:
            tab.on_result(result)
        except Exception as exc:
            log.exception("%s.on_result failed", tab.title)
            w.show_status(f"{tab.title} could not show a result: {type(exc).__name__}: {exc}")
        shown = w.presenter.result(result)
        if shown is not None:
            self.show(shown)
        self.sync_frame_delivery()

    def show(self, shown: "Shown") -> None:
        w = self.window
        frame, tab = shown.frame, w.active_tab
        image = frame.image
        if tab is not None:
            try:
                replacement = tab.display_image(frame)
                image = frame.image if replacement is None else replacement
            except Exception as exc:
                log.exception("%s.display_image failed", tab.title)
                w.show_status(f"{tab.title} could not draw its picture: {type(exc).__name__}: {exc}")
        try:
            w.view.show_image(image, frame.index, overlay=shown.result is not None)
        except ValueError as exc:  # a tab returned something that is not a BGR image
            w.show_status(f"Cannot show the image: {exc}")
            w.view.show_image(frame.image, frame.index, overlay=False)
        w.output.record_shown(frame.timestamp)
