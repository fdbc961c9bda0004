"""The real main window offscreen on hostile MJPEG streams from a server on 127.0.0.1:
pictures over the pixel limit end in one message naming the URL and the limit (and the
process never holds such a picture); bad parts between good ones are skipped while the
stream plays on."""

from __future__ import annotations

import os
import resource

from tests.detect.stream_servers import MjpegServer, claiming_jpeg, jpeg_bytes, mjpeg_part


def test_a_stream_of_pictures_over_the_limit_gives_one_message_and_the_demo(qtbot, make_window, frames_waiter):
    server = MjpegServer(fps=30, parts={"/huge": lambda i: mjpeg_part(claiming_jpeg(16000, 16000))}).start()
    try:
        window = make_window("demo")
        frames_waiter(qtbot, window, 2)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert window.open_source(server.url_of("/huge"))  # opens in the background
        qtbot.waitUntil(lambda: window.context.last_error is not None, timeout=20000)
        title, message = window.context.last_error
        assert title == "The video source failed"
        assert message.count(server.url_of("/huge")) == 1 and "16000x16000" in message
        assert "CNN_STUDIO_MAX_IMAGE_PIXELS" in message
        qtbot.waitUntil(lambda: window.pipeline.source is not None and window.pipeline.source.name == "demo",
                        timeout=10000)
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before < 300
    finally:
        server.stop()


def test_bad_parts_between_good_ones_keep_the_stream_playing(qtbot, make_window, frames_waiter):
    noise = os.urandom(20_000)
    parts = {"/bad": lambda i: (mjpeg_part(noise), mjpeg_part(b""), mjpeg_part(jpeg_bytes(i)))[i % 3]}
    server = MjpegServer(fps=30, parts=parts).start()
    try:
        window = make_window("demo")
        frames_waiter(qtbot, window, 2)  # the demo first, as the app starts
        assert window.open_source(server.url_of("/bad"))
        assert window.pipeline.source.name == server.url_of("/bad")
        qtbot.waitUntil(lambda: window.pipeline.source.frames_delivered >= 10, timeout=20000)
        frames_waiter(qtbot, window, 3)
        assert window.view.current_image().shape == (240, 320, 3)
        assert window.context.last_error is None and server.connections == 1
    finally:
        server.stop()
