"""HTTP MJPEG streams (``multipart/x-mixed-replace``, what most IP cameras serve) read part
by part with bounded memory.

FFmpeg's reader trusts the stream: it buffers a part as large as its ``Content-Length``
says (2 GB for ``Content-Length: 2000000000``) and decodes a frame as large as the JPEG
header claims (16000 x 16000 is 768 MB in BGR), and one undecodable part ends the
connection. Here every part is checked before it costs memory:

- a part's headers are at most ``MAX_PART_HEADER_BYTES``;
- a part declared (``Content-Length``) or found larger than ``max_stream_part_bytes``
  (``engine.core.limits``) is skipped while it is read, keeping only the last few bytes to
  find the next boundary;
- a picture whose header declares more than ``max_image_pixels`` is refused before it is
  decoded, and so are parts that are empty or not a picture; the stream goes on with the
  next part.

A part that is skipped is reported through ``on_skip(reason)``; ``next_frame`` raises
SourceError only when no good picture arrives before its deadline, or when the connection
ends, and then the message says which of these happened and, if parts were skipped, why.

Frames are uint8 BGR (H, W, 3).
"""

from __future__ import annotations

import base64
import http.client
import io
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from engine.core import limits
from engine.core.errors import SourceError
from engine.io.image_header import HeaderError, image_size

log = logging.getLogger(__name__)

#: Most bytes of one part's header lines (a real one is under 200).
MAX_PART_HEADER_BYTES = 8 * 1024
#: Bytes asked from the socket at a time.
READ_CHUNK = 64 * 1024
#: Redirects followed before giving up.
MAX_REDIRECTS = 3
_MULTIPART = re.compile(r"^\s*multipart/", re.IGNORECASE)
_BOUNDARY = re.compile(r"boundary\s*=\s*\"?([^\";]+)\"?", re.IGNORECASE)


class _Skip(Exception):
    """A part that is not used; the message says why (for ``on_skip``)."""


def open_mjpeg(url: str, name: str, open_timeout_s: float, read_timeout_s: float,
               on_skip: Callable[[str], None] | None = None) -> MjpegStream | None:
    """Connect to ``url`` (http/https) and return an MjpegStream when it serves multipart;
    None when the answer is something else (a video FFmpeg should read, or an
    authentication only FFmpeg speaks).

    name: the masked URL, for messages. SourceError when the server cannot be reached,
    does not answer within ``open_timeout_s``, or answers with an error status.
    """
    target = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(target)
        conn = _connection(parts, open_timeout_s)
        headers = {"User-Agent": "CNN-Studio", "Accept": "*/*", "Connection": "close"}
        if parts.username is not None and target == url:  # never send credentials to a redirected host
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        watchdog, late = None, threading.Event()
        try:
            conn.connect()
            sock = conn.sock  # getresponse() lets go of it when the server will close the connection
            # The socket timeout bounds each wait; this bounds the whole answer (a server
            # that trickles its header a byte at a time).
            watchdog = threading.Timer(open_timeout_s, _shut, args=(sock, late))
            watchdog.daemon = True
            watchdog.start()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            watchdog.cancel()
            if late.is_set():
                raise TimeoutError
        except TimeoutError:
            conn.close()
            raise SourceError(f"{name}: cannot be opened (no answer within {open_timeout_s:g} s); check the address "
                              "and that the camera is on the network") from None
        except ssl.SSLError as exc:
            conn.close()
            log.info("%s: TLS failed (%s); leaving the stream to FFmpeg", name, exc)
            return None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            if late.is_set():
                reason = f"no complete answer within {open_timeout_s:g} s"
            raise SourceError(f"{name}: cannot be opened ({reason}); check the address, port and path, and that the "
                              "camera is on the network") from None
        finally:
            if watchdog is not None:
                watchdog.cancel()
        status = response.status
        if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            location = response.getheader("Location", "")
            conn.close()
            target = location if "://" in location else f"{parts.scheme}://{parts.netloc}{location}"
            if urlsplit(target).scheme not in ("http", "https"):
                return None
            continue
        if status == 401 and "basic" not in (response.getheader("WWW-Authenticate") or "").lower():
            conn.close()
            return None  # Digest and friends: FFmpeg knows them
        if status >= 400:
            conn.close()
            hint = ("the user or password is wrong (put them in the URL: http://user:password@host/...)"
                    if status in (401, 403) else "check the path")
            raise SourceError(f"{name}: the server answered {status} {response.reason}; {hint}")
        content_type = response.getheader("Content-Type") or ""
        if not _MULTIPART.match(content_type):
            conn.close()
            return None
        found = _BOUNDARY.search(content_type)
        sock.settimeout(read_timeout_s)
        return MjpegStream(conn, sock, response, found.group(1).strip() if found else "", name, on_skip)
    raise SourceError(f"{name}: cannot be opened (more than {MAX_REDIRECTS} redirects)")


def _shut(sock: socket.socket, late: threading.Event) -> None:
    """The open took too long: end the blocked read (the opener sees ``late``)."""
    late.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _connection(parts, timeout: float) -> http.client.HTTPConnection:
    if not parts.hostname:
        raise SourceError("the URL names no host")
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


class MjpegStream:
    """The parts of one multipart HTTP answer, as pictures. Not thread-safe: one reader
    (the capture thread); ``abort`` may be called from another thread to end a read."""

    def __init__(self, conn: http.client.HTTPConnection, sock: socket.socket, response: http.client.HTTPResponse,
                 boundary: str, name: str, on_skip: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.on_skip = on_skip or (lambda reason: None)
        self.skipped = 0
        self.last_skip = ""
        self._conn, self._sock, self._response = conn, sock, response
        self._marker = b"--" + boundary.lstrip("-").encode("latin-1") if boundary else b""
        self._buffer = bytearray()
        self._limits = limits.current()
        self.opened_at = time.monotonic()
        self.last_frame_at: float | None = None

    # -- public -------------------------------------------------------------------------
    def next_frame(self, deadline: float) -> np.ndarray:
        """The next good picture (uint8 BGR), skipping bad parts; SourceError when none
        arrives before ``deadline`` (time.monotonic() seconds) or the connection ends."""
        while True:
            try:
                image = self._decode(self._next_part(deadline))
                self.last_frame_at = time.monotonic()
                return image
            except _Skip as skip:
                self.skipped += 1
                self.last_skip = str(skip)
                log.debug("%s: skipped a part: %s", self.name, skip)
                self.on_skip(str(skip))

    def abort(self) -> None:
        """End a read blocked in another thread (the socket is shut down)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self._response.close()
        self._conn.close()
        self._sock.close()

    # -- parts --------------------------------------------------------------------------
    def _fill(self, deadline: float) -> None:
        """Append what the socket has to the buffer; SourceError at the deadline or the end."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._late()
        try:
            self._sock.settimeout(remaining)
            chunk = self._response.read1(READ_CHUNK)
        except TimeoutError:
            raise self._late() from None
        except (OSError, ValueError, http.client.HTTPException, AttributeError) as exc:
            raise SourceError(self._ended(f"the connection failed: {exc}")) from None
        if not chunk:
            raise SourceError(self._ended("the server closed the connection"))
        self._buffer += chunk

    def _late(self) -> SourceError:
        since = self.last_frame_at or self.opened_at
        what = "the last picture" if self.last_frame_at else "the stream opened"
        why = f"; {self.skipped} bad part(s) skipped, the last: {self.last_skip}" if self.last_skip else ""
        return SourceError(f"{self.name}: no picture for {time.monotonic() - since:.1f} s since {what}{why}")

    def _ended(self, what: str) -> str:
        why = f" (the last bad part: {self.last_skip})" if self.last_skip else ""
        return f"{self.name}: {what}{why}"

    def _next_part(self, deadline: float) -> bytes:
        """The body of the next part, or _Skip; reads past anything before a boundary."""
        if not self._marker:
            self._learn_boundary(deadline)
        marker = self._marker
        while True:
            at = self._buffer.find(marker)
            if at >= 0:
                del self._buffer[:at + len(marker)]
                break
            # Keep only what could be the start of a boundary cut in two.
            del self._buffer[:max(0, len(self._buffer) - len(marker) + 1)]
            self._fill(deadline)
        head = self._part_headers(deadline)
        if head is None:
            raise SourceError(self._ended("the stream ended"))
        declared = head.get("content-length")
        limit = self._limits.max_stream_part_bytes
        if declared is not None and declared.isascii() and declared.isdigit():
            size = int(declared) if len(declared) <= 18 else None  # int() refuses 4300+ digits
            if size is None or size > limit:
                what = limits.human_bytes(size) if size is not None else f"a {len(declared)}-digit number of bytes"
                raise _Skip(f"a part declares {what}, more than the limit of "
                            f"{limits.human_bytes(limit)} ({self._limits.hint('max_stream_part_bytes')})")
            while len(self._buffer) < size:
                self._fill(deadline)
            body = bytes(self._buffer[:size])
            del self._buffer[:size]
            return body
        searched = 0  # bytes of the buffer known to hold no whole boundary
        while True:  # no usable length: the part ends where the next boundary starts
            at = self._buffer.find(marker, searched)
            if at >= 0:
                body = bytes(self._buffer[:at]).removesuffix(b"\r\n").removesuffix(b"\n")
                del self._buffer[:at]
                return body
            if len(self._buffer) > limit + len(marker):
                del self._buffer[:len(self._buffer) - len(marker)]
                raise _Skip(f"a part is larger than the limit of {limits.human_bytes(limit)} "
                            f"({self._limits.hint('max_stream_part_bytes')})")
            searched = max(0, len(self._buffer) - len(marker) + 1)
            self._fill(deadline)

    def _part_headers(self, deadline: float) -> dict[str, str] | None:
        """The header lines of the part whose boundary was just read (lower-case names);
        None after the closing boundary ("--boundary--")."""
        while len(self._buffer) < 2:
            self._fill(deadline)
        if self._buffer[:2] == b"--":
            return None
        while True:  # the rest of the boundary line
            end = self._buffer.find(b"\n")
            if 0 <= end <= MAX_PART_HEADER_BYTES:
                del self._buffer[:end + 1]
                break
            if len(self._buffer) > MAX_PART_HEADER_BYTES:
                raise _Skip(f"a boundary line is longer than {MAX_PART_HEADER_BYTES // 1024} KB")
            self._fill(deadline)
        while True:
            if self._buffer.startswith(b"\xff\xd8"):
                return {}  # no header lines at all: the JPEG follows the boundary
            if self._buffer.startswith((b"\r\n", b"\n")):  # an empty header block
                del self._buffer[:self._buffer.find(b"\n") + 1]
                return {}
            end, sep = self._buffer.find(b"\r\n\r\n"), 4
            if end < 0:
                end, sep = self._buffer.find(b"\n\n"), 2
            if 0 <= end <= MAX_PART_HEADER_BYTES:
                text = bytes(self._buffer[:end]).decode("latin-1")
                del self._buffer[:end + sep]
                headers = {}
                for line in text.splitlines():
                    key, colon, value = line.partition(":")
                    if colon:
                        headers[key.strip().lower()] = value.strip()
                return headers
            if len(self._buffer) > MAX_PART_HEADER_BYTES:
                raise _Skip(f"a part's header is longer than {MAX_PART_HEADER_BYTES // 1024} KB")
            self._fill(deadline)

    def _learn_boundary(self, deadline: float) -> None:
        """The Content-Type named no boundary: take it from the first "--..." line."""
        while True:
            for line in bytes(self._buffer).splitlines()[:-1]:
                if line.startswith(b"--") and len(line) > 2:
                    self._marker = line.strip()
                    return
            if len(self._buffer) > MAX_PART_HEADER_BYTES:
                raise SourceError(f"{self.name}: the stream is multipart but names no boundary; "
                                  "it is not an MJPEG stream this app can read")
            self._fill(deadline)

    # -- pictures -----------------------------------------------------------------------
    def _decode(self, body: bytes) -> np.ndarray:
        """``body`` decoded to BGR, or _Skip when it is empty, no picture, damaged or too large."""
        if not body:
            raise _Skip("an empty part")
        try:
            declared = image_size(io.BytesIO(body))
        except HeaderError as exc:
            raise _Skip(f"a damaged picture ({exc})") from None
        if declared is None:
            raise _Skip(f"a part of {len(body)} bytes that is not a picture")
        kind, width, height = declared
        problem = frame_pixels_problem(width, height, self._limits)
        if problem:
            raise _Skip(problem)
        try:
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error:
            image = None
        if image is None:
            raise _Skip(f"a {kind.upper()} picture that cannot be decoded")
        return image


def frame_pixels_problem(width: int, height: int, limit: limits.Limits | None = None) -> str | None:
    """Why a ``width`` x ``height`` stream picture is refused (over the image pixel limit), or None."""
    limit = limit or limits.current()
    if width * height <= limit.max_image_pixels:
        return None
    return (f"a {width}x{height} picture ({limits.megapixels(width * height)}) is more than the image limit of "
            f"{limits.megapixels(limit.max_image_pixels)}; lower the camera's resolution, or "
            f"{limit.hint('max_image_pixels')}")
