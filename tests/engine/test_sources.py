"""Every source type, bad input, and reconnection after a failure."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.core.errors import SourceError
from engine.io import classify, iter_frames, open_source
from engine.io.camera import CameraSource, list_cameras
from engine.io.demo import DemoSource
from engine.io.folder import FolderSource
from engine.io.image import ImageSource
from engine.io.images import read_image
from engine.io.video import VideoSource
from engine.runtime.mailbox import Mailbox


def collect(source, count: int, timeout: float = 10.0):
    frames = []
    done = threading.Event()

    def on_frame(frame):
        frames.append(frame)
        if len(frames) >= count:
            done.set()

    source.subscribe(on_frame)
    source.start()
    try:
        assert done.wait(timeout), f"only {len(frames)} of {count} frames arrived"
    finally:
        source.stop()
    return frames


def test_demo_source_moves_and_keeps_its_rate():
    source = DemoSource(width=160, height=120, fps=60)
    frames = collect(source, 20)
    assert all(f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [f.index for f in frames[:20]] == list(range(20))
    assert not np.array_equal(frames[0].image, frames[10].image)
    span = frames[19].timestamp - frames[0].timestamp
    assert span > 19 / 60 * 0.7  # paced, not as fast as possible


def test_demo_render_is_deterministic_per_tick():
    a, b = DemoSource(seed=3), DemoSource(seed=3)
    # The clock text changes with the wall clock; compare the top half, away from it.
    assert np.array_equal(a.render(7)[:200], b.render(7)[:200])


def test_video_source_plays_all_frames_then_ends(video_file: Path):
    source = VideoSource(video_file, realtime=False)
    events = []
    source.on_event(lambda e: events.append(e.kind))
    frames = collect(source, 12)
    assert len(frames) == 12
    assert frames[0].image.shape == (64, 96, 3)
    # The bright square moves 4 px per frame: frame content follows file order.
    cols = [int(np.argmax(f.image[16, :, 0] > 200)) for f in frames]
    assert cols == sorted(cols) and cols[-1] > cols[0]
    deadline = time.monotonic() + 5
    while "ended" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "ended" in events


def test_video_source_realtime_follows_file_fps(video_file: Path):
    frames = collect(VideoSource(video_file, realtime=True), 12)
    span = frames[-1].timestamp - frames[0].timestamp
    assert span >= 11 / 25 * 0.8


def test_video_source_loops(video_file: Path):
    frames = collect(VideoSource(video_file, realtime=False, loop=True), 30)
    assert len(frames) >= 30


def test_image_source_repeats_one_image(tmp_path: Path):
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), np.full((30, 20), 128, np.uint8))  # grayscale on disk
    frames = collect(ImageSource(path, fps=100), 5)
    assert frames[0].image.shape == (30, 20, 3)
    assert all(f.image is frames[0].image for f in frames)


def test_folder_source_shows_each_image_and_skips_bad_ones(image_folder: Path):
    (image_folder / "broken.jpg").write_bytes(b"not really a jpeg")
    source = FolderSource(image_folder, seconds_per_image=0.02, fps=200, loop=False)
    events = []
    source.on_event(lambda e: events.append(e))
    frames = collect(source, 9)
    colours = {tuple(int(c) for c in f.image[0, 0]) for f in frames}
    assert colours == {(255, 0, 0), (0, 255, 0), (0, 0, 255)}
    assert any(e.kind == "skipped" and "broken.jpg" in e.message for e in events)


def test_bad_inputs_give_clear_errors(tmp_path: Path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "missing.mp4"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(str(empty))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(SourceError, match="corrupt.png"):
        open_source(str(corrupt))
    bad_video = tmp_path / "bad.mp4"
    bad_video.write_bytes(b"\x00" * 1000)
    with pytest.raises(SourceError, match="bad.mp4"):
        open_source(str(bad_video))
    with pytest.raises(SourceError, match="camera 57"):
        CameraSource(57).start()


def test_read_image_converts_alpha_and_16_bit(tmp_path: Path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 2] = 255  # red, fully transparent -> composited on white
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    assert read_image(tmp_path / "a.png")[0, 0].tolist() == [255, 255, 255]
    deep = np.full((8, 8, 3), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    out = read_image(tmp_path / "d.png")
    assert out.dtype == np.uint8 and out.max() == 255


def test_iter_frames_handles_every_batch_kind(tmp_path: Path, video_file: Path, image_folder: Path):
    assert len(list(iter_frames(video_file))) == 12
    assert [f.source for f in iter_frames(image_folder)] == ["img0.png", "img1.png", "img2.png"]
    single = image_folder / "img1.png"
    assert len(list(iter_frames(single))) == 1
    with pytest.raises(SourceError):
        list(iter_frames("demo"))


def test_classify():
    assert classify("demo") == "demo"
    assert classify("0") == "camera"
    assert classify("/dev/video2") == "camera"


def test_camera_reconnects_after_the_stream_fails(tmp_path: Path, video_file: Path):
    """A capture device that stops, vanishes and comes back: the source recovers by itself.

    OpenCV opens a file path like a device path, so a short clip plays the part of a
    camera that dies at its last frame; removing the file makes re-opening fail until it
    is restored.
    """
    device = tmp_path / "cam.avi"
    shutil.copy(video_file, device)
    source = CameraSource(str(device))
    source.backoff_initial = 0.02
    source.backoff_max = 0.1
    events: list[str] = []
    box: Mailbox = Mailbox()
    source.on_event(lambda e: events.append(e.kind))
    frames = []
    source.subscribe(lambda f: (frames.append(f), box.put(f)))
    hidden = tmp_path / "hidden.avi"
    source.start()
    try:
        deadline = time.monotonic() + 10
        while "disconnected" not in events and time.monotonic() < deadline:
            time.sleep(0.005)
        device.rename(hidden)  # the camera is gone: reopening fails for a while
        while events.count("reconnecting") < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        before = len(frames)
        hidden.rename(device)  # plugged back in
        while len(frames) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        source.stop()
    assert "disconnected" in events and "reconnected" in events
    assert events.count("reconnecting") >= 3
    assert len(frames) >= before + 5
    assert [f.index for f in frames] == list(range(len(frames)))


def test_list_cameras_returns_camera_infos():
    cameras = list_cameras()
    assert isinstance(cameras, list)
    for camera in cameras:
        assert camera.path.startswith("/dev/video") and camera.index >= 0
