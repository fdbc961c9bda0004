"""Network streams against local servers (RTSP and HTTP MJPEG on 127.0.0.1): playing,
surviving a server restart, clear messages for wrong/unreachable/garbage streams, and
credentials that never appear in clear."""

from __future__ import annotations

import logging
import shutil
import socket
import threading

import numpy as np
import pytest

from engine.io.sources import SourceError, classify, open_source
from engine.io.stream import StreamSource, has_credentials, mask_url, strip_password
from tests.detect.stream_servers import MjpegServer, RtspServer, free_port, make_ts_clip

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg program (apt-get install ffmpeg)")


class Recorder:
    """Collects frames and events of a source; waits for counts or event kinds."""

    def __init__(self, source):
        self.frames, self.events = [], []
        self._changed = threading.Condition()
        source.subscribe(self._frame)
        source.on_event(self._event)

    def _frame(self, frame):
        with self._changed:
            self.frames.append(frame)
            self._changed.notify_all()

    def _event(self, event):
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_frames(self, count: int, timeout: float = 20.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.frames) >= count, timeout)

    def wait_event(self, kind: str, timeout: float = 20.0):
        with self._changed:
            self._changed.wait_for(lambda: any(e.kind == kind for e in self.events), timeout)
            return next((e for e in self.events if e.kind == kind), None)


@pytest.fixture(scope="module")
def ts_clip(tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg program (apt-get install ffmpeg)")
    return make_ts_clip(tmp_path_factory.mktemp("rtsp") / "clip.ts")


def play_and_restart(server, url: str) -> Recorder:
    source = StreamSource(url, open_timeout_s=3.0, read_timeout_s=1.5)
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_frames(10), [e.kind for e in rec.events]
        server.stop()
        assert rec.wait_event("disconnected") is not None
        server.start()
        seen = len(rec.frames)
        assert rec.wait_event("reconnected") is not None
        assert rec.wait_frames(seen + 10)
    finally:
        source.stop()
        server.stop()
    return rec


@needs_ffmpeg
def test_rtsp_plays_and_reconnects_after_a_server_restart(ts_clip, caplog):
    server = RtspServer(ts_clip).start()
    url = server.url.replace("rtsp://", "rtsp://admin:hunter2@")  # the server ignores credentials
    with caplog.at_level(logging.DEBUG):
        rec = play_and_restart(server, url)
    image = rec.frames[-1].image
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert image.std() > 20  # ffmpeg's colourful test pattern, not a blank picture
    assert server.plays == 2
    assert "hunter2" not in caplog.text and "admin" not in caplog.text
    assert all("hunter2" not in e.message for e in rec.events)


def test_mjpeg_over_http_plays_what_is_served_and_reconnects():
    server = MjpegServer().start()
    rec = play_and_restart(server, server.url)
    image = rec.frames[-1].image
    assert image.shape == (240, 320, 3)
    # The served frame: a white square on rows 100..140 of a dark picture.
    assert image[105:135].max() > 200 and image[:90].max() < 80


def test_wrong_port_gives_a_clear_message():
    url = f"rtsp://127.0.0.1:{free_port()}/live"
    with pytest.raises(SourceError, match="cannot be opened") as info:
        StreamSource(url, open_timeout_s=2.0, background_open=False).start()
    assert "127.0.0.1" in str(info.value)


def test_unreachable_stream_reports_an_error_event_within_the_open_timeout():
    """A server that accepts the connection and never answers: the open timeout ends it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        source = StreamSource(f"rtsp://user:secret@127.0.0.1:{silent.getsockname()[1]}/live", open_timeout_s=1.5)
        rec = Recorder(source)
        source.start()
        error = rec.wait_event("error", timeout=15.0)
        source.stop()
    finally:
        silent.close()
    assert error is not None and "cannot be opened" in error.message and "secret" not in error.message


def test_a_stream_of_garbage_is_refused_clearly():
    server = MjpegServer().start()
    try:
        with pytest.raises(SourceError, match="cannot be opened|no picture arrived"):
            StreamSource(server.garbage_url, open_timeout_s=3.0, background_open=False).start()
    finally:
        server.stop()


def test_bad_urls_are_refused_before_connecting():
    with pytest.raises(SourceError, match="names no host"):
        StreamSource("rtsp:///live")
    with pytest.raises(SourceError, match="port is not a number"):
        StreamSource("rtsp://cam:abc/live")
    with pytest.raises(SourceError, match="not a valid URL") as info:
        StreamSource("rtsp://admin:hunter2@[::1/live")
    assert "hunter2" not in str(info.value)


def test_classify_and_open_source_know_streams():
    assert classify("rtsp://10.0.0.5/live") == "stream" and classify("HTTP://cam.local/mjpg") == "stream"
    source = open_source("http://127.0.0.1:9/stream")
    assert isinstance(source, StreamSource) and source.kind == "stream"


def test_credentials_are_masked_everywhere_they_could_appear():
    url = "rtsp://admin:hunter2@10.0.0.5:554/live?channel=1&token=abc123"
    masked = mask_url(url)
    assert masked == "rtsp://***@10.0.0.5:554/live?channel=1&token=***"
    assert has_credentials(url) and not has_credentials("rtsp://10.0.0.5/live")
    stored = strip_password(url)
    assert "hunter2" not in stored and "abc123" not in stored and stored.startswith("rtsp://admin@10.0.0.5:554/")
    source = StreamSource(url)
    assert "hunter2" not in source.name and "admin" not in source.name
    with pytest.raises(SourceError) as info:
        StreamSource("rtsp://admin:hunter2@/live")
    assert "hunter2" not in str(info.value)
