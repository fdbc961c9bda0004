"""Network camera streams: rtsp://, rtsps://, http(s):// (MJPEG or video), via OpenCV's FFmpeg backend.

Policy:
- **open timeout** and **read timeout** (milliseconds, passed to FFmpeg's interrupt
  callback), so a wrong address fails within ``open_timeout_s`` with a clear message and
  a dead connection is noticed within ``read_timeout_s``;
- **newest frame**: the capture thread reads as fast as the stream delivers and hands on
  every frame; downstream mailboxes keep only the newest, so no decoder backlog builds up;
- **reconnect** with exponential backoff after the stream was playing (as the webcam
  does); a stream that never opened ends with an "error" event instead;
- **credentials never leave in clear**: the source's name, its messages and logs use
  ``mask_url`` (user and password replaced by ``***``, secret query values too).

Images are uint8 BGR (H, W, 3).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import cv2

from engine.io.sources import CaptureSource, SourceError

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
_SECRET_KEYS = re.compile(r"pass|pwd|token|auth|key|secret|signature|sig$", re.IGNORECASE)


def is_stream_url(text: str) -> bool:
    """Whether ``text`` looks like a network stream URL (rtsp://, http(s)://, ...)."""
    scheme, sep, _rest = str(text).strip().partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a user/password or a secret-looking query value."""
    try:
        parts = urlsplit(str(url).strip())
    except ValueError:
        return False
    return bool(parts.username or parts.password) or any(_SECRET_KEYS.search(k) for k, _ in parse_qsl(parts.query))


def mask_url(url: str) -> str:
    """``url`` with user and password replaced by ``***`` and secret query values hidden.

    "rtsp://admin:hunter2@10.0.0.5:554/live?token=abc" -> "rtsp://***@10.0.0.5:554/live?token=***".
    Text that does not parse as a URL is reduced to its scheme.
    """
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        scheme = text.partition("://")[0]
        return f"{scheme}://***" if scheme else "***"


def strip_password(url: str) -> str:
    """``url`` without its password (the user name stays): what a "recent URLs" list may store."""
    text = str(url).strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return mask_url(text)
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username}@{host}" if parts.username else host
    query = parts.query
    if query:
        query = urlencode([(k, "" if _SECRET_KEYS.search(k) else v)
                           for k, v in parse_qsl(query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class StreamSource(CaptureSource):
    """A network stream as a live source.

    url: rtsp://, rtsps://, rtmp://, http:// or https://. open_timeout_s / read_timeout_s:
    see the module docstring. background_open: open on the capture thread (the GUI never
    waits for a slow camera; failures arrive as an "error" event); False opens in
    ``start`` and raises SourceError there.
    """

    kind = "stream"
    reconnects = True

    def __init__(self, url: str, open_timeout_s: float = 5.0, read_timeout_s: float = 5.0,
                 background_open: bool = True) -> None:
        self.url = str(url).strip()
        if not is_stream_url(self.url):
            raise SourceError(f"{mask_url(self.url)}: not a stream URL (use rtsp://, rtsps://, http:// or https://)")
        try:
            parts = urlsplit(self.url)
        except ValueError as exc:  # e.g. an unclosed IPv6 bracket
            raise SourceError(f"{mask_url(self.url)}: not a valid URL ({exc})") from None
        if not parts.hostname:
            raise SourceError(f"{mask_url(self.url)}: the URL names no host (e.g. rtsp://192.168.1.20:554/stream)")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise SourceError(f"{mask_url(self.url)}: the port is not a number") from None
        super().__init__(mask_url(self.url), fps=30.0, pace=False)
        self.open_timeout_s = float(open_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.background_open = background_open
        self.backoff_max = 8.0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if not self.background_open:
            super().start()
            return
        if self._thread is not None:
            return
        self._stop.clear()
        self.state = "connecting"
        self._thread = threading.Thread(target=self._connect_then_run, name=f"capture:{self.name}", daemon=True)
        self._thread.start()

    def _connect_then_run(self) -> None:
        try:
            self._open()
        except SourceError as exc:
            self.state = "ended"
            self._emit("error", str(exc))
            self._emit("stopped", self.name)
            return
        if self._stop.is_set():
            self._close()
            return
        self.state = "running"
        self._emit("started", self.name)
        self._run()

    # -- FrameSource hooks -----------------------------------------------------------------
    def _open(self) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000)]
        started = time.monotonic()
        try:
            cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        except cv2.error as exc:  # OpenCV raises for some malformed URLs
            raise SourceError(f"{self.name}: cannot be opened ({exc})") from None
        if not cap.isOpened():
            cap.release()
            waited = time.monotonic() - started
            reason = ("no answer within the open timeout" if waited >= 0.9 * self.open_timeout_s
                      else "refused or not a video stream")
            raise SourceError(f"{self.name}: cannot be opened ({reason}); check the address, port, path and "
                              "credentials, and that the camera is on the network")
        ok, image = cap.read()
        if not ok or image is None:
            cap.release()
            raise SourceError(f"{self.name}: connected but no picture arrived (not a video stream, or an "
                              "unsupported codec)")
        self._adopt(cap, image)

    def _lost_message(self) -> str:
        return f"{self.name}: the stream stopped (no picture within {self.read_timeout_s:g} s)"
