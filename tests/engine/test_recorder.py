"""Recording what is shown to a video file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.recorder import RecorderError, VideoRecorder


def test_recorder_writes_a_readable_video(tmp_path: Path):
    path = tmp_path / "out.avi"
    with VideoRecorder(path, fps=20) as rec:
        for k in range(15):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, : 4 * k] = 255
            rec.write(frame)
    assert rec.frames_written == 15 and rec.error is None
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 15


def test_recorder_rejects_bad_targets(tmp_path: Path):
    with pytest.raises(RecorderError, match="unsupported"):
        VideoRecorder(tmp_path / "x.txt")
    with pytest.raises(RecorderError, match="no such folder"):
        VideoRecorder(tmp_path / "nope" / "x.mp4")
