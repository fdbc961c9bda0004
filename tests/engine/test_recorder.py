"""Recording what is shown to a video file."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.io.recorder import RecorderError, VideoRecorder


def _read_all(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def test_recorder_writes_a_readable_video(tmp_path: Path):
    path = tmp_path / "out.avi"
    rec = VideoRecorder(path, fps=20, start=0.0)
    for k in range(15):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, : 4 * k] = 255
        rec.write(frame, timestamp=k / 20 + 0.001)
    rec.close(at=14 / 20 + 0.001)  # at the last picture's slot, not at wall-clock time
    assert rec.frames_written == 15 and rec.error is None
    assert len(_read_all(path)) == 15


def test_recording_lasts_as_long_as_the_session_whatever_the_call_rate(tmp_path: Path):
    """Pictures arrive irregularly (a GUI that skips): each is held until the next one's time."""
    path = tmp_path / "timed.avi"
    rec = VideoRecorder(path, fps=10, start=100.0)
    times = [100.0, 100.05, 100.52, 101.31, 101.9]  # 0, 0 (same slot), 5, 13, 19
    for k, t in enumerate(times):
        rec.write(np.full((16, 16, 3), 50 * k, np.uint8), timestamp=t)
    rec.close(at=102.5)  # 2.5 s after the start: 25 frames at 10 fps
    frames = _read_all(path)
    assert len(frames) == 25
    levels = [50 * int(round(f.mean() / 50)) for f in frames]  # MJPG is lossy by a grey level or two
    # slot 0 holds the first picture (the second fell in the same slot and shows from slot 1)
    assert levels[0] == 0 and levels[1:5] == [50] * 4
    assert levels[5:13] == [100] * 8 and levels[13:19] == [150] * 6 and levels[19:] == [200] * 6


def test_an_unfinished_recording_never_takes_the_final_name(tmp_path: Path):
    path = tmp_path / "clip.avi"
    rec = VideoRecorder(path, fps=10)
    rec.write(np.zeros((16, 16, 3), np.uint8))
    deadline = time.monotonic() + 5
    while rec.frames_written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not path.exists()  # still being written under a temporary name
    rec.close()
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["clip.avi"]


def test_close_returns_even_when_the_writer_died(tmp_path: Path):
    rec = VideoRecorder(tmp_path / "dead.avi", fps=5)
    rec.write(np.zeros((16, 16, 3), np.uint8))
    rec.write(np.zeros(16, np.uint8))  # not a picture: the writer thread fails on it
    deadline = time.monotonic() + 5
    while rec.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.error
    while rec.write(np.zeros((16, 16, 3), np.uint8)) or not rec._queue.full():
        if rec.error:  # write() refuses once the error is known: fill the queue directly
            rec._queue.put_nowait((np.zeros((16, 16, 3), np.uint8), time.monotonic()))
    started = time.monotonic()
    rec.close(timeout=2.0)
    assert time.monotonic() - started < 5.0
    assert not (tmp_path / "dead.avi").exists()


def test_recorder_rejects_bad_targets(tmp_path: Path):
    with pytest.raises(RecorderError, match="unsupported"):
        VideoRecorder(tmp_path / "x.txt")
    with pytest.raises(RecorderError, match="no such folder"):
        VideoRecorder(tmp_path / "nope" / "x.mp4")
