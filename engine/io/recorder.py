"""Recording what is shown to a video file, on real time, without blocking the caller.

``write`` hands the picture and its timestamp to a writer thread through a bounded
queue. Recording wants every picture (unlike live inference), so it queues up to ~2
seconds; beyond that the disk cannot keep up and new pictures are dropped and counted
rather than stalling the GUI. Timestamps, not the call rate, decide where each picture
lands in the video, so its length is the real length of the session.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class RecorderError(RuntimeError):
    """The video file could not be created or written."""


class VideoRecorder:
    """Write BGR frames, (H, W, 3) uint8, to ``path`` at a constant ``fps``, on real time.

    Live recording: each picture is written with its timestamp (``time.monotonic()``
    seconds, e.g. the frame's capture time) and fills the video from its slot on until the
    next picture's slot, so a recording plays exactly as long as it lasted, whatever rate
    the caller managed (a GUI that showed 12 pictures a second still gives a 30 fps video
    of the right length, each picture held for as long as it was on screen); ``close``
    holds the last picture until the moment it is called. File conversion (the CLI):
    pictures written without a timestamp become consecutive video frames, one each.

    The size is fixed by ``frame_size`` (width, height) or by the first frame; frames of
    another size are resized to it. The codec follows the suffix (.mp4 -> mp4v, .avi ->
    MJPG). The file is written under a temporary name in the same folder and renamed into
    place by ``close``: an interrupted recording never leaves a half-written ``path``.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, frame_size: tuple[int, int] | None = None,
                 start: float | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _CODECS:
            raise RecorderError(f"{self.path}: unsupported video type '{suffix}' (use .mp4 or .avi)")
        if not self.path.parent.is_dir():
            raise RecorderError(f"{self.path.parent}: no such folder")
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frame_size = frame_size
        self.start = time.monotonic() if start is None else float(start)
        self.frames_written = 0  # video frames in the file (held pictures count once per slot)
        self.frames_dropped = 0  # pictures dropped because the writer fell behind
        self.error: str | None = None
        self._partial = self.path.with_name(f".{self.path.stem}.recording{suffix}")
        self._queue: queue.Queue[tuple[np.ndarray | None, float]] = queue.Queue(maxsize=max(2, int(self.fps * 2)))
        self._writer: cv2.VideoWriter | None = None
        self._last: np.ndarray | None = None
        self._timed = False  # pictures carry timestamps (live recording)
        self._thread = threading.Thread(target=self._run, name=f"recorder:{self.path.name}", daemon=True)
        self._closed = False
        self._thread.start()

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        fourcc = cv2.VideoWriter_fourcc(*_CODECS[self.path.suffix.lower()])
        writer = cv2.VideoWriter(str(self._partial), fourcc, self.fps, size)
        if not writer.isOpened():
            raise RecorderError(f"{self.path}: the video file could not be created")
        return writer

    def _slot(self, timestamp: float) -> int:
        """The video frame number that ``timestamp`` falls in."""
        return max(0, int((timestamp - self.start) * self.fps))

    def _fill_until(self, slot: int) -> None:
        """Hold the last picture up to (not including) video frame ``slot``."""
        while self._last is not None and self.frames_written < slot:
            self._writer.write(self._last)  # type: ignore[union-attr]
            self.frames_written += 1

    def _run(self) -> None:
        try:
            while True:
                image, timestamp = self._queue.get()
                if image is None:  # the end: a live video covers [start, timestamp), partial slots included
                    if self._timed:
                        self._fill_until(math.ceil((timestamp - self.start) * self.fps - 1e-6))
                    return
                slot = self.frames_written if timestamp is None else self._slot(timestamp)
                if self._writer is None:
                    if self.frame_size is None:
                        self.frame_size = (int(image.shape[1]), int(image.shape[0]))
                    self._writer = self._open(self.frame_size)
                if (image.shape[1], image.shape[0]) != self.frame_size:
                    image = cv2.resize(image, self.frame_size, interpolation=cv2.INTER_AREA)
                self._fill_until(slot)
                if self.frames_written <= slot:
                    self._writer.write(image)
                    self.frames_written += 1
                self._last = image  # a second picture in the same slot is shown from the next one on
        except Exception as exc:  # noqa: BLE001 - reported through .error
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("recording to %s failed: %s", self.path, exc)
        finally:
            if self._writer is not None:
                self._writer.release()

    def write(self, image: np.ndarray, timestamp: float | None = None) -> bool:
        """Queue a picture shown at ``timestamp`` (monotonic s), or as the next frame when None.

        Returns False if it was dropped (writer behind, failed, or closed).
        """
        if self._closed or self.error is not None:
            return False
        if timestamp is not None:
            self._timed = True
        try:
            self._queue.put_nowait((np.ascontiguousarray(image), None if timestamp is None else float(timestamp)))
            return True
        except queue.Full:
            self.frames_dropped += 1
            return False

    @property
    def duration_s(self) -> float:
        """Seconds of video written so far."""
        return self.frames_written / self.fps

    def close(self, timeout: float = 10.0, at: float | None = None) -> None:
        """Hold the last picture until ``at`` (monotonic s; now when None), finish the
        file and move it into place.

        Never blocks longer than ``timeout`` seconds, even when the writer thread died.
        """
        if self._closed:
            return
        self._closed = True
        end = time.monotonic() if at is None else float(at)
        deadline = time.monotonic() + timeout
        while self._thread.is_alive():
            try:
                self._queue.put((None, end), timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self.error = self.error or f"the writer did not finish within {timeout:.0f} s"
            return
        if self._partial.exists():
            if self.frames_written > 0 and self.error is None:
                os.replace(self._partial, self.path)
            else:
                self._partial.unlink(missing_ok=True)

    def __enter__(self) -> "VideoRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
