"""Detect's two exports: every frame's detections this session, and the counting events.

Both ask for a file (CSV or JSON by its suffix), write it through the controller
(``DetectController.export_session`` / ``export_events``) and say in the status bar what
was written; a refused path or a failed write is shown, never raised.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QPushButton, QWidget

from engine.features.detect.export import SESSION_FRAMES
from gui.common import file_dialogs


def plural(count: int, noun: str) -> str:
    """"1 frame", "2 frames"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class DetectExports:
    """The exports of ``controller``'s session, asked from ``parent`` (``context``: the tab's AppContext)."""

    def __init__(self, context, controller, parent: QWidget) -> None:
        self.context, self.controller, self.parent = context, controller, parent

    def session_button(self) -> QPushButton:
        """"Export session detections…", explained in its tooltip."""
        button = QPushButton("Export session detections…")
        button.setToolTip(
            f"Every frame seen since the app started (the newest {SESSION_FRAMES:,} frames, all sources): source, "
            "frame number, time (seconds into a video file, or the wall clock for a camera) and each box")
        button.clicked.connect(lambda: self.choose_detections_file())
        return button

    def choose_detections_file(self) -> None:
        path = file_dialogs.save_file(
            self.parent, f"Export the detections of every frame seen this session (the newest {SESSION_FRAMES:,})",
            "detections.csv", "CSV, one row per box (*.csv);;JSON, one object per frame (*.json)")
        if path:
            self.export_detections(path)

    def export_detections(self, path: str | Path) -> bool:
        """Write the session's detections (``DetectController.export_session``)."""
        if not self.controller.session:
            self.context.status("Nothing to export yet: no frame has been through the model")
            return False
        try:
            frames, boxes = self.controller.export_session(path)
        except (ValueError, OSError) as exc:
            self.context.error("Export failed", f"{path}: {exc}")
            return False
        self.context.status(f"Exported {plural(boxes, 'detection')} from {plural(frames, 'frame')} to {path}")
        return True

    def choose_events_file(self) -> None:
        path = file_dialogs.save_file(self.parent, "Export counting events", "events.csv", "CSV (*.csv);;JSON (*.json)")
        if path:
            self.export_events(path)

    def export_events(self, path: str | Path) -> bool:
        """Write the counting events so far (``DetectController.export_events``)."""
        try:
            count = self.controller.export_events(path)
        except (ValueError, OSError) as exc:
            self.context.error("Export failed", f"{path}: {exc}")
            return False
        self.context.status(f"Exported {plural(count, 'counting event')} to {path}")
        return True
