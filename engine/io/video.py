"""Video files as a live source (real-time pacing, optional looping)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from engine.core.errors import SourceError
from engine.io.base import CaptureSource
from engine.io.images import to_bgr8

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"})


class VideoSource(CaptureSource):
    """A video file, played at the file's frame rate (``realtime``) or as fast as possible.

    loop: start again at the end instead of ending.
    """

    kind = "video"

    def __init__(self, path: str | os.PathLike[str], realtime: bool = True, loop: bool = False) -> None:
        self.path = Path(path)
        self.loop = loop
        super().__init__(self.path.name, pace=realtime)
        self.frame_count = 0
        self._file_frame = -1  # the frame number in the file of the picture read last
        self._open()  # validate now so a bad file fails in the caller, with its name
        self._close()

    def _open(self) -> None:
        from engine.core.safe_files import input_file_problem

        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        problem = input_file_problem(self.path)
        if problem is not None:
            raise SourceError(problem.what, problem.todo)
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.path}: cannot be opened as a video (damaged, or a codec OpenCV lacks)")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{self.path}: contains no readable video frames")
        self.fps = 30.0  # unless the file says otherwise
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._file_frame = -1
        self._adopt(cap, first)

    def _read(self) -> np.ndarray | None:
        if self._cap is None:
            self._open()
        first = self._take_first()
        if first is not None:
            self._file_frame = 0
            return first
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            if not self.loop:
                return None
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._file_frame = -1
            ok, image = self._cap.read()
            if not ok or image is None:
                return None
        self._file_frame += 1
        return to_bgr8(image, self.name)

    def _media_time(self) -> float | None:
        """Seconds into the file: frame number in the file / the file's fps."""
        return max(self._file_frame, 0) / self.fps


def video_fps(path: str | os.PathLike[str], default: float = 30.0) -> float:
    """The frame rate a video file declares, or ``default`` when it declares none (frames
    per second; for writing outputs at the input's rate)."""
    capture = cv2.VideoCapture(str(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    return float(fps) if fps and fps > 0 else default
