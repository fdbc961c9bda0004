"""Hostile HTTP MJPEG streams from a real server on 127.0.0.1: pictures over the pixel
limit, parts that declare or carry more bytes than the part limit, random and empty parts,
connections that fail at once. Memory stays bounded, bad parts are skipped without
dropping the connection, reconnects back off, and every message is true and names the
(masked) URL once."""

from __future__ import annotations

import os
import re
import resource
import time

import pytest

from engine.core.errors import SourceError
from engine.io.stream import StreamSource
from tests.detect.stream_servers import MjpegServer, Recorder, claiming_jpeg, jpeg_bytes, mjpeg_part


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def good(index: int) -> bytes:
    return mjpeg_part(jpeg_bytes(index))


@pytest.fixture
def serve():
    servers = []

    def start(fps: float = 30.0, content_types: dict | None = None, **parts) -> MjpegServer:
        server = MjpegServer(fps=fps, parts={f"/{name.replace('_', '-')}": make for name, make in parts.items()},
                             content_types=content_types).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_pictures_over_the_pixel_limit_are_refused_before_they_are_decoded(serve):
    """16000 x 16000 declared (768 MB as BGR): the stream is refused with the sizes, the
    limit and the variable that raises it, and the process never grows by a picture."""
    server = serve(huge=lambda i: mjpeg_part(claiming_jpeg(16000, 16000)))
    before = peak_rss_mb()
    source = StreamSource(server.url_of("/huge"), open_timeout_s=1.5, read_timeout_s=1.5, background_open=False)
    with pytest.raises(SourceError) as info:
        source.start()
    source.stop()
    message = str(info.value)
    assert "16000x16000" in message and "CNN_STUDIO_MAX_IMAGE_PIXELS" in message and "resolution" in message
    assert message.count(f"127.0.0.1:{server.port}") == 1
    assert peak_rss_mb() - before < 300


def test_one_picture_over_the_limit_among_good_ones_is_skipped(serve):
    server = serve(mixed=lambda i: mjpeg_part(claiming_jpeg(16000, 16000)) if i % 4 == 1 else good(i))
    source = StreamSource(server.url_of("/mixed"), open_timeout_s=3, read_timeout_s=3)
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_frames(12), [e.message for e in rec.events]
    finally:
        source.stop()
    skipped = rec.messages("skipped")
    assert skipped and "16000x16000" in skipped[0]
    assert rec.messages("disconnected") == []
    assert all(f.image.shape == (240, 320, 3) for f in rec.frames)


def test_a_part_declaring_two_gigabytes_is_skipped_without_buffering_it(serve):
    """Content-Length: 2000000000 on a small part: nothing is allocated for it, the next
    boundary is found and the stream goes on; "2e9" (not a number) is read to the boundary."""
    def liar(i: int) -> bytes:
        if i == 0:
            return mjpeg_part(jpeg_bytes(0), length=2_000_000_000)
        if i == 1:
            return mjpeg_part(jpeg_bytes(1), length="2e9")
        if i == 2:
            return mjpeg_part(jpeg_bytes(2), length="9" * 6000)  # more digits than int() takes
        return good(i)

    server = serve(liar=liar)
    before = peak_rss_mb()
    source = StreamSource(server.url_of("/liar"), open_timeout_s=3, read_timeout_s=3)
    source.skip_report_interval_s = 0.0
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_frames(10), [e.message for e in rec.events]
    finally:
        source.stop()
    skipped = rec.messages("skipped")
    assert "declares 1.9 GB" in skipped[0] and "declares a 6000-digit number of bytes" in skipped[1]
    assert rec.messages("disconnected") == [] and server.connections == 1
    assert peak_rss_mb() - before < 300


def test_parts_larger_than_the_part_limit_are_skipped_as_they_arrive(serve, monkeypatch):
    """With a 100 KB part limit: a 1 MB part declared honestly, and a 1 MB part without a
    Content-Length, are both dropped while they are read; the good parts around them play."""
    monkeypatch.setenv("CNN_STUDIO_MAX_STREAM_PART_BYTES", "100000")
    blob = os.urandom(1_000_000)

    def big(i: int) -> bytes:
        if i == 2:
            return mjpeg_part(blob)
        if i == 4:
            return mjpeg_part(blob, length=None)
        return good(i)

    server = serve(big=big)
    source = StreamSource(server.url_of("/big"), open_timeout_s=3, read_timeout_s=3)
    rec = Recorder(source)
    source.skip_report_interval_s = 0.0  # every skip is an event here
    source.start()
    try:
        assert rec.wait_frames(8), [e.message for e in rec.events]
    finally:
        source.stop()
    skipped = rec.messages("skipped")
    assert any("declares 976.6 KB" in m for m in skipped) and any("larger than the limit of 97.7 KB" in m for m in skipped)
    assert all("CNN_STUDIO_MAX_STREAM_PART_BYTES" in m for m in skipped)
    assert rec.messages("disconnected") == [] and server.connections == 1


def test_random_and_empty_parts_are_skipped_and_the_connection_stays(serve):
    """Before: one undecodable part dropped the connection (a reconnect every 0.25 s and
    half the frames lost). Now the good parts between bad ones all arrive on one connection."""
    noise = os.urandom(20_000)

    def bad(i: int) -> bytes:
        return (mjpeg_part(noise), mjpeg_part(b""), mjpeg_part(b"", length=None), good(i))[i % 4]

    server = serve(fps=40, bad_parts=bad)
    source = StreamSource(server.url_of("/bad-parts"), open_timeout_s=3, read_timeout_s=3)
    source.skip_report_interval_s = 0.0
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_frames(10), [e.message for e in rec.events]
    finally:
        source.stop()
    assert rec.messages("disconnected") == [] and server.connections == 1
    skipped = " ".join(rec.messages("skipped"))
    assert "not a picture" in skipped and "an empty part" in skipped


def test_reconnects_back_off_while_every_connection_fails_at_once(serve):
    """A server that sends one picture and hangs up: each re-open works and fails at once,
    so the delay before the next one doubles up to the cap instead of staying at 0.25 s."""
    server = serve(one_frame=lambda i: good(i) if i == 0 else None)
    source = StreamSource(server.url_of("/one-frame"), open_timeout_s=3, read_timeout_s=3)
    source.backoff_max = 1.0
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_events("reconnected", 4, timeout=30), [e.message for e in rec.events]
    finally:
        source.stop()
    delays = [float(re.search(r"attempt 1, next in ([0-9.]+) s", m).group(1))
              for m in rec.messages("reconnecting") if "attempt 1," in m]
    assert delays[:5] == [0.25, 0.5, 1.0, 1.0, 1.0][:len(delays[:5])] and len(delays) >= 4


def test_a_lost_connection_says_what_happened_and_names_the_masked_url_once(serve):
    def stall(i: int) -> bytes | None:
        if i == 0:
            return good(0)
        time.sleep(4)  # holds the connection open without a picture
        return None

    server = serve(one_frame=lambda i: good(i) if i == 0 else None, stall=stall)
    secret_url = server.url_of("/one-frame").replace("http://", "http://user:hunter2@")
    source = StreamSource(secret_url, open_timeout_s=3, read_timeout_s=3)
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_event("disconnected") is not None
    finally:
        source.stop()
    closed = rec.messages("disconnected")[0]
    assert closed.count("127.0.0.1") == 1 and "***@127.0.0.1" in closed and "hunter2" not in closed
    assert "the server closed the connection" in closed and "no picture" not in closed

    source = StreamSource(server.url_of("/stall"), open_timeout_s=3, read_timeout_s=1.0)
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_event("disconnected") is not None
    finally:
        source.stop()
    stalled = rec.messages("disconnected")[0]
    waited = float(re.search(r"no picture for ([0-9.]+) s since the last picture", stalled).group(1))
    assert waited >= 1.0 and stalled.count("127.0.0.1") == 1


def test_a_server_that_trickles_its_answer_is_cut_at_the_open_timeout():
    """A byte every 0.2 s never trips a socket timeout; the open timeout still ends it."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for byte in b"HTTP/1.0 200 OK\r\nX-Padding: " + b"a" * 1000:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    try:
        source = StreamSource(f"http://127.0.0.1:{listener.getsockname()[1]}/stream", open_timeout_s=1.5,
                              background_open=False)
        with pytest.raises(SourceError, match="no complete answer within 1.5 s"):
            source.start()
    finally:
        stop.set()
        listener.close()


def test_error_answers_and_a_multipart_without_a_boundary_parameter(serve):
    server = serve(no_boundary=good, content_types={"/no-boundary": "multipart/x-mixed-replace"})
    with pytest.raises(SourceError, match="answered 404 Not Found; check the path"):
        StreamSource(server.url_of("/nowhere"), open_timeout_s=2, background_open=False).start()
    # Some cameras name no boundary in the Content-Type: it is learnt from the first part.
    source = StreamSource(server.url_of("/no-boundary"), open_timeout_s=3, read_timeout_s=3)
    rec = Recorder(source)
    source.start()
    try:
        assert rec.wait_frames(5), [e.message for e in rec.events]
    finally:
        source.stop()
    assert rec.frames[-1].image.shape == (240, 320, 3) and rec.messages("skipped") == []


def test_frames_ffmpeg_decodes_are_held_to_the_same_pixel_limit(serve, tmp_path, monkeypatch):
    """An HTTP answer that is a video file goes to FFmpeg; its frames (here 320x240, over a
    limit lowered to 50,000 pixels) are refused with the same message."""
    import cv2
    import numpy as np

    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for index in range(10):
        writer.write(np.full((240, 320, 3), 20 * index, np.uint8))
    writer.release()
    server = MjpegServer(files={"/clip.avi": ("video/x-msvideo", (tmp_path / "clip.avi").read_bytes())}).start()
    try:
        monkeypatch.setenv("CNN_STUDIO_MAX_IMAGE_PIXELS", "50000")
        source = StreamSource(server.url_of("/clip.avi"), open_timeout_s=3, background_open=False)
        with pytest.raises(SourceError) as info:
            source.start()
        message = str(info.value)
        assert "320x240" in message and "CNN_STUDIO_MAX_IMAGE_PIXELS" in message
        assert message.count("127.0.0.1") == 1
        monkeypatch.delenv("CNN_STUDIO_MAX_IMAGE_PIXELS")
        source = StreamSource(server.url_of("/clip.avi"), open_timeout_s=3, background_open=False)
        source.start()  # the same file within the limit plays
        source.stop()
    finally:
        server.stop()
