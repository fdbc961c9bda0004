"""Fixtures for engine tests: small media files written with OpenCV, a local HTTP server."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), fps: float = 25.0) -> Path:
    """An MJPG .avi whose frame k has a bright square at x = 4k and brightness encoding k."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for k in range(frames):
        image = np.full((size[1], size[0], 3), 10 * k % 250, np.uint8)
        cv2.rectangle(image, (4 * k, 10), (4 * k + 12, 22), (255, 255, 255), -1)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi")


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        image = np.zeros((40, 50, 3), np.uint8)
        image[:] = colour
        cv2.imwrite(str(folder / f"img{i}.png"), image)
    return folder


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, dict]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body, options = self.routes.get(self.path, (None, {}))
        if body is None:
            self.send_error(404, "not found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(options.get("declared_length", len(body))))
        self.end_headers()
        cut = options.get("cut_after")
        try:
            self.wfile.write(body if cut is None else body[:cut])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 serving byte strings at chosen paths."""

    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"routes": {}})
        self.routes = handler.routes
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, **options: object) -> str:
        self.routes[path] = (body, options)
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = LocalServer()
    yield server
    server.close()
