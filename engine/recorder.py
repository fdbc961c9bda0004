"""Recording frames to a video file without blocking the caller.

``write`` hands the frame to a writer thread through a bounded queue. Recording wants
every frame (unlike live inference), so it queues up to ~2 seconds; beyond that the
disk cannot keep up and new frames are dropped and counted rather than stalling the GUI.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class RecorderError(RuntimeError):
    """The video file could not be created or written."""


class VideoRecorder:
    """Write BGR frames, (H, W, 3) uint8, to ``path`` at ``fps`` frames per second.

    The size is fixed by ``frame_size`` (width, height) or by the first frame; frames of
    another size are resized to it. The codec follows the suffix (.mp4 -> mp4v,
    .avi -> MJPG).
    """

    def __init__(self, path: str | Path, fps: float = 30.0, frame_size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _CODECS:
            raise RecorderError(f"{self.path}: unsupported video type '{suffix}' (use .mp4 or .avi)")
        if not self.path.parent.is_dir():
            raise RecorderError(f"{self.path.parent}: no such folder")
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frame_size = frame_size
        self.frames_written = 0
        self.frames_dropped = 0
        self.error: str | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max(2, int(self.fps * 2)))
        self._writer: cv2.VideoWriter | None = None
        self._thread = threading.Thread(target=self._run, name=f"recorder:{self.path.name}", daemon=True)
        self._closed = False
        self._thread.start()

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        fourcc = cv2.VideoWriter_fourcc(*_CODECS[self.path.suffix.lower()])
        writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, size)
        if not writer.isOpened():
            raise RecorderError(f"{self.path}: the video file could not be created")
        return writer

    def _run(self) -> None:
        try:
            while True:
                image = self._queue.get()
                if image is None:
                    return
                if self._writer is None:
                    if self.frame_size is None:
                        self.frame_size = (int(image.shape[1]), int(image.shape[0]))
                    self._writer = self._open(self.frame_size)
                if (image.shape[1], image.shape[0]) != self.frame_size:
                    image = cv2.resize(image, self.frame_size, interpolation=cv2.INTER_AREA)
                self._writer.write(image)
                self.frames_written += 1
        except Exception as exc:  # noqa: BLE001 - reported through .error
            self.error = str(exc)
            log.error("recording to %s failed: %s", self.path, exc)
        finally:
            if self._writer is not None:
                self._writer.release()

    def write(self, image: np.ndarray) -> bool:
        """Queue a frame; returns False if it was dropped (writer behind or failed)."""
        if self._closed or self.error is not None:
            return False
        try:
            self._queue.put_nowait(np.ascontiguousarray(image))
            return True
        except queue.Full:
            self.frames_dropped += 1
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Finish writing the queued frames and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def __enter__(self) -> "VideoRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
