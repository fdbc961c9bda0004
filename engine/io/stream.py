"""Network camera streams: rtsp://, rtsps://, http(s):// (MJPEG or video), via OpenCV's FFmpeg backend.

Policy:
- **open timeout** and **read timeout** (milliseconds, passed to FFmpeg's interrupt
  callback), so a wrong address fails within ``open_timeout_s`` with a clear message and
  a dead connection is noticed within ``read_timeout_s``;
- **newest frame**: the capture thread reads as fast as the stream delivers and hands on
  every frame; downstream mailboxes keep only the newest, so no decoder backlog builds up;
- **reconnect** with exponential backoff after the stream was playing (as the webcam
  does), growing while re-opened connections keep failing; a stream that never opened
  ends with an "error" event instead;
- **HTTP MJPEG is read here, not by FFmpeg** (``engine.io.mjpeg_stream``): part by part with
  bounded memory, a bad part skipped (one "skipped" event per ``SKIP_REPORT_INTERVAL_S``),
  a picture over the pixel limit refused before it is decoded. Other HTTP answers (a
  video file, Digest authentication) and RTSP go to FFmpeg, whose frames are checked
  against the same pixel limit after decoding;
- **credentials never leave in clear**: the source's name, its messages and logs use
  ``mask_url`` (engine.io.stream_url: user information, path parameters, query and
  fragment hidden); the host and port are checked with the same parser, and only the
  URL kept in memory for FFmpeg carries the secrets.

Images are uint8 BGR (H, W, 3).
"""

from __future__ import annotations

import logging
import threading
import time

import cv2

from engine.core.errors import SourceError
from engine.io.base import CaptureSource
from engine.io.images import to_bgr8
from engine.io.stream_url import hide_url_in, mask_url, parse_stream_url

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
#: At most one "skipped" event (a bad MJPEG part) per this many seconds.
SKIP_REPORT_INTERVAL_S = 10.0

__all__ = ["STREAM_SCHEMES", "StreamSource", "has_credentials", "is_stream_url", "mask_url"]


def is_stream_url(text: str) -> bool:
    """Whether ``text`` looks like a network stream URL (rtsp://, http(s)://, ...)."""
    parsed = parse_stream_url(text)
    return parsed is not None and parsed.scheme in STREAM_SCHEMES


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries anything ``mask_url`` hides: user information, path
    parameters, a query or a fragment (any of which may hold a password)."""
    parsed = parse_stream_url(url)
    return parsed is not None and parsed.hides_anything()


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
        self.url = str(url).strip()  # in memory only: it may hold the password
        parsed = parse_stream_url(self.url)
        if parsed is None or parsed.scheme not in STREAM_SCHEMES:
            raise SourceError(f"{mask_url(self.url)}: not a stream URL (use rtsp://, rtsps://, http:// or https://)")
        if parsed.problem:
            raise SourceError(f"{parsed.masked()}: {parsed.problem}")
        self._connect_url = parsed.connect_url()
        super().__init__(parsed.masked(), fps=30.0, pace=False)
        self.open_timeout_s = float(open_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.background_open = background_open
        self.backoff_max = 8.0
        self._mjpeg = None  # an engine.io.mjpeg_stream.MjpegStream while an MJPEG answer is read
        self._opened_at = 0.0
        self._last_frame_at: float | None = None
        self._skip_reported = float("-inf")
        self.skip_report_interval_s = SKIP_REPORT_INTERVAL_S

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

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        mjpeg = self._mjpeg
        if mjpeg is not None:
            mjpeg.abort()  # a read blocked for up to read_timeout_s returns now
        super().stop(timeout)

    # -- FrameSource hooks -----------------------------------------------------------------
    def _open(self) -> None:
        self._opened_at = time.monotonic()
        self._last_frame_at = None
        if self._connect_url.split("://", 1)[0].lower() in ("http", "https"):
            from engine.io.mjpeg_stream import open_mjpeg

            # The connect URL: a password holding / ? # is percent-encoded there, so the
            # reader's URL parsing finds the same host this module's parser found.
            stream = open_mjpeg(self._connect_url, self.name, self.open_timeout_s, self.read_timeout_s, self._skipped)
            if stream is not None:
                try:
                    first = stream.next_frame(self._opened_at + self.open_timeout_s)
                except SourceError:
                    stream.close()
                    raise
                self._mjpeg, self._first = stream, first
                return
        self._open_ffmpeg()

    def _open_ffmpeg(self) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000)]
        started = time.monotonic()
        try:
            cap = cv2.VideoCapture(self._connect_url, cv2.CAP_FFMPEG, params)
        except cv2.error as exc:  # OpenCV raises for some malformed URLs, quoting them
            reason = hide_url_in(hide_url_in(str(exc), self._connect_url), self.url)
            raise SourceError(f"{self.name}: cannot be opened ({reason})") from None
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
        try:
            self._check_size(image)
        except SourceError:
            cap.release()
            raise
        self._adopt(cap, image)

    def _read(self):
        if self._mjpeg is not None and self._first is None:
            image = to_bgr8(self._mjpeg.next_frame(time.monotonic() + self.read_timeout_s), self.name)
        else:
            image = super()._read()
            self._check_size(image)
        self._last_frame_at = time.monotonic()
        return image

    def _check_size(self, image) -> None:
        """SourceError when an FFmpeg frame is over the pixel limit (it is decoded already:
        refusing it keeps the app from holding and processing such frames)."""
        from engine.io.mjpeg_stream import frame_pixels_problem

        problem = frame_pixels_problem(image.shape[1], image.shape[0])
        if problem:
            raise SourceError(f"{self.name}: {problem}")

    def _skipped(self, reason: str) -> None:
        """A bad MJPEG part was skipped (capture thread): tell the user now and then."""
        now = time.monotonic()
        if now - self._skip_reported >= self.skip_report_interval_s:
            self._skip_reported = now
            self._emit("skipped", f"{reason} in {self.name}")

    def _close(self) -> None:
        mjpeg, self._mjpeg = self._mjpeg, None
        if mjpeg is not None:
            mjpeg.close()
        self._first = None
        super()._close()

    def _lost_message(self) -> str:
        """Why FFmpeg's read failed, with the time it really waited."""
        since = self._last_frame_at or self._opened_at
        what = "the last picture" if self._last_frame_at else "the stream opened"
        waited = time.monotonic() - since
        if waited >= 0.9 * self.read_timeout_s:
            return f"{self.name}: the stream stopped (no picture for {waited:.1f} s since {what})"
        return (f"{self.name}: the stream stopped {waited:.1f} s after {what} (the server ended it, or sent a "
                "picture that cannot be decoded)")
