"""Snapshots and recordings of what the video view shows: one path for both.

Both take the view's composite (the picture plus the active tab's overlay, at frame
resolution), so a saved file is exactly what the user saw. Recordings are written on
real time (see engine/io/recorder.py): each shown picture is stamped with its capture time,
so a 10-second session plays 10 seconds, however many pictures the GUI managed to show.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
from PySide6.QtCore import QStandardPaths

if TYPE_CHECKING:
    from engine.io.recorder import VideoRecorder
    from gui.common.video_view import VideoView

log = logging.getLogger(__name__)

APP_FOLDER = "CNN Studio"


def output_dir(kind: str, standard: QStandardPaths.StandardLocation) -> Path:
    """Where snapshots/recordings go: the user's Pictures/Videos folder, or under
    ``$CNN_STUDIO_HOME`` when that is set (portable installs and tests stay self-contained)."""
    from engine.core.paths import HOME_ENV, home

    if os.environ.get(HOME_ENV, "").strip():
        folder = home() / kind
    else:
        base = QStandardPaths.writableLocation(standard)
        folder = Path(base) / APP_FOLDER if base else home() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def unique_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``… if it exists (two snapshots in one second)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


class ViewOutput:
    """Saves what ``view`` shows. ``status(text)`` and ``error(title, text)`` tell the user."""

    def __init__(self, view: "VideoView", status: Callable[[str], None], error: Callable[[str, str], None]) -> None:
        self.view = view
        self._status = status
        self._error = error
        self.recorder: VideoRecorder | None = None
        self.started = 0.0

    @staticmethod
    def snapshot_dir() -> Path:
        return output_dir("snapshots", QStandardPaths.StandardLocation.PicturesLocation)

    @staticmethod
    def recording_dir() -> Path:
        return output_dir("recordings", QStandardPaths.StandardLocation.MoviesLocation)

    # -- snapshot ------------------------------------------------------------------------
    def snapshot(self, path: str | Path | None = None) -> Path | None:
        """Save the composite as a PNG (written to a temporary name, then renamed)."""
        image = self.view.render_composited()
        if image is None:
            self._status("Nothing to save yet: no picture is shown")
            return None
        target = Path(path) if path is not None else unique_path(
            self.snapshot_dir() / time.strftime("snapshot-%Y%m%d-%H%M%S.png"))
        partial = target.with_name(f".{target.name}.partial")
        try:
            ok, encoded = cv2.imencode(".png", image)
            if not ok:
                raise OSError("PNG encoding failed")
            encoded.tofile(str(partial))  # tofile: also fine with non-ASCII paths
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            self._error("Snapshot not saved", f"{target}: {exc}")
            return None
        self._status(f"Snapshot saved: {target}")
        return target

    # -- recording -----------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.recorder is not None

    def start(self, fps: float, path: str | Path | None = None) -> Path | None:
        """Start recording the composite at ``fps`` (constant-rate video on real time)."""
        from engine.io.recorder import VideoRecorder

        if self.recorder is not None:
            return self.recorder.path
        target = Path(path) if path is not None else unique_path(
            self.recording_dir() / time.strftime("recording-%Y%m%d-%H%M%S.mp4"))
        try:
            self.recorder = VideoRecorder(target, fps=fps)
        except Exception as exc:
            self._error("Cannot record", f"{type(exc).__name__}: {exc}")
            return None
        self.started = self.recorder.start
        self._status(f"Recording to {target} — Ctrl+R to stop")
        return target

    def record_shown(self, timestamp: float) -> None:
        """The view just changed picture (captured at ``timestamp``): add it to the recording."""
        recorder = self.recorder
        if recorder is None:
            return
        image = self.view.render_composited()
        if image is not None:
            recorder.write(image, max(timestamp, recorder.start))

    def stop(self) -> Path | None:
        """Finish the recording (holds the last picture until now); returns its path."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        recorder.close()
        if recorder.error:
            self._error("Recording failed", f"{recorder.path}: {recorder.error}")
            return None
        dropped = f", {recorder.frames_dropped} pictures dropped" if recorder.frames_dropped else ""
        self._status(f"Recording saved: {recorder.path} ({recorder.duration_s:.1f} s{dropped})")
        return recorder.path

    def check(self) -> str | None:
        """The recording's elapsed time as "● REC mm:ss" (None when not recording).

        A recorder that failed is stopped here and the failure shown.
        """
        recorder = self.recorder
        if recorder is None:
            return None
        if recorder.error:
            self.stop()
            return None
        elapsed = int(time.monotonic() - self.started)
        return f"● REC {elapsed // 60:02d}:{elapsed % 60:02d}"
