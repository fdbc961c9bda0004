"""Local stream servers for the stream-source tests, on 127.0.0.1 only.

- ``RtspServer``: a small RTSP server (OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN) that
  plays an MPEG-TS clip (made with the system's ffmpeg) as RTP/MP2T interleaved over the
  RTSP connection (RFC 2326 section 10.12, RFC 2250), in real time, looping.
- ``MjpegServer``: HTTP multipart/x-mixed-replace JPEG frames (what most IP cameras and
  ESP32-CAMs serve), plus /garbage that sends random bytes as a "video".

Both can be stopped and started again on the same port (for the reconnect tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ts_clip(path: Path, seconds: float = 2.0, size: tuple[int, int] = (320, 240), fps: int = 25) -> Path:
    """An MPEG-TS H.264 clip of ffmpeg's test pattern, a key frame every 5 frames."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={size[0]}x{size[1]}:rate={fps}", "-t", str(seconds), "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-g", "5", "-bf", "0", "-f", "mpegts", str(path)], check=True, timeout=60)
    return path


class RtspServer:
    """Serves ``clip`` (MPEG-TS) at rtsp://127.0.0.1:PORT/live over TCP-interleaved RTP."""

    def __init__(self, clip: Path, port: int | None = None, seconds: float = 2.0) -> None:
        data = Path(clip).read_bytes()
        self.packets = [data[i:i + 188] for i in range(0, len(data) - 187, 188)]
        self.seconds = seconds
        self.port = port or free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/live"
        self._listener: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._stop = threading.Event()
        self.plays = 0

    def start(self) -> "RtspServer":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(4)
        self._listener = listener
        self._stop = threading.Event()
        threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            try:  # wakes the accept() blocked in the other thread, which frees the port
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        for client in self._clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()
        self._clients.clear()

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._clients.append(client)
            threading.Thread(target=self._session, args=(client, stop), daemon=True).start()

    def _session(self, conn: socket.socket, stop: threading.Event) -> None:
        buffer = b""
        send_lock = threading.Lock()
        try:
            while not stop.is_set():
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
                while True:
                    if buffer[:1] == b"$":  # the client's RTCP, interleaved: skip it
                        if len(buffer) < 4:
                            break
                        size = struct.unpack(">H", buffer[2:4])[0]
                        if len(buffer) < 4 + size:
                            break
                        buffer = buffer[4 + size:]
                        continue
                    end = buffer.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    request, buffer = buffer[:end].decode("latin-1"), buffer[end + 4:]
                    self._answer(conn, request, send_lock, stop)
        except OSError:
            return

    def _answer(self, conn, request: str, lock, stop) -> None:
        lines = request.split("\r\n")
        method = lines[0].split(" ")[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        cseq = headers.get("cseq", "0")
        extra, body, status = "", "", "200 OK"
        if method == "OPTIONS":
            extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
        elif method == "DESCRIBE":
            body = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test clip\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                    "m=video 0 RTP/AVP 33\r\na=rtpmap:33 MP2T/90000\r\na=control:track0\r\n")
            extra = f"Content-Base: {self.url}/\r\nContent-Type: application/sdp\r\n"
        elif method == "SETUP":
            if "TCP" not in headers.get("transport", "").upper():
                status = "461 Unsupported Transport"
            else:
                extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 4242\r\n"
        elif method == "PLAY":
            extra = "Session: 4242\r\n"
            self.plays += 1
            threading.Thread(target=self._stream, args=(conn, lock, stop), daemon=True).start()
        elif method == "TEARDOWN":
            extra = "Session: 4242\r\n"
        reply = f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}Content-Length: {len(body)}\r\n\r\n{body}"
        with lock:
            conn.sendall(reply.encode("latin-1"))

    def _stream(self, conn, lock, stop) -> None:
        per_packet = 7  # 7 x 188 bytes fits one Ethernet MTU
        groups = [b"".join(self.packets[i:i + per_packet]) for i in range(0, len(self.packets), per_packet)]
        interval = self.seconds / max(1, len(groups))
        seq, start = 0, time.monotonic()
        try:
            while not stop.is_set():
                for payload in groups:
                    if stop.is_set():
                        return
                    stamp = int((time.monotonic() - start) * 90000) & 0xFFFFFFFF
                    rtp = struct.pack(">BBHII", 0x80, 33, seq & 0xFFFF, stamp, 0x1234) + payload
                    with lock:
                        conn.sendall(b"$\x00" + struct.pack(">H", len(rtp)) + rtp)
                    seq += 1
                    time.sleep(interval)
        except OSError:
            return


def mjpeg_frame(index: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A dark frame with a white square that moves with ``index``."""
    w, h = size
    image = np.full((h, w, 3), 30, np.uint8)
    x = (index * 7) % (w - 40)
    image[100:140, x:x + 40] = 255
    return image


class MjpegServer:
    """http://127.0.0.1:PORT/stream (MJPEG, 15 fps) and /garbage (random bytes)."""

    def __init__(self, port: int | None = None, fps: float = 15.0) -> None:
        self.port = port or free_port()
        self.fps = fps
        self.url = f"http://127.0.0.1:{self.port}/stream"
        self.garbage_url = f"http://127.0.0.1:{self.port}/garbage"
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> "MjpegServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if self.path.startswith("/garbage"):
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.end_headers()
                    try:
                        self.wfile.write(os.urandom(200_000))
                    except OSError:
                        pass
                    return
                if not self.path.startswith("/stream"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while owner._server is not None:
                        ok, jpeg = cv2.imencode(".jpg", mjpeg_frame(index))
                        part = jpeg.tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(part)}\r\n\r\n".encode() + part + b"\r\n")
                        index += 1
                        time.sleep(1.0 / owner.fps)
                except OSError:
                    return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.allow_reuse_address = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
