"""What every live source shares: a capture thread that hands frames to subscribers.

``FrameSource`` runs the thread (pacing, reconnect with backoff, events); ``CaptureSource``
holds what webcams, streams and video files read through ``cv2.VideoCapture`` share.
Capture never waits for anyone downstream: callbacks must only pass the frame on (e.g.
into a ``Mailbox``). Images are uint8 BGR (H, W, 3).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable

import cv2
import numpy as np

from engine.core.errors import SourceError
from engine.core.frame import Frame, SourceEvent
from engine.io.images import to_bgr8

log = logging.getLogger(__name__)


class FrameSource:
    """Base class of live sources: a capture thread that delivers frames to subscribers.

    Subclasses implement ``_open()``, ``_read() -> ndarray | None`` (None = end of
    stream) and ``_close()``. ``_read`` raising means the device failed; sources that
    ``reconnects`` then re-open with exponential backoff. The backoff is not reset by a
    re-open that works but fails again at once (a server that accepts and then drops the
    connection): only ``STABLE_AFTER_S`` of frames bring it back to ``backoff_initial``.
    """

    #: Seconds of delivered frames after a reconnect before the backoff starts from its
    #: initial delay again.
    STABLE_AFTER_S = 10.0

    reconnects = False
    kind = "source"

    def __init__(self, name: str, fps: float = 30.0, pace: bool = True) -> None:
        self.name = name
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.pace = pace  # sleep to keep self.fps (files, demo); cameras pace themselves
        self.mirror = False
        self.backoff_initial = 0.25
        self.backoff_max = 4.0
        self._next_backoff: float | None = None  # the wait before the next re-open; None: backoff_initial
        self._reconnected_at = 0.0
        self._subscribers: list[Callable[[Frame], None]] = []
        self._listeners: list[Callable[[SourceEvent], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._index = 0
        self._scene = 0  # bumped by sources whose next picture is unrelated to the last
        self._times: deque[float] = deque(maxlen=120)
        self.state = "idle"  # idle, running, reconnecting, ended, stopped

    # -- subscription -----------------------------------------------------------------
    def subscribe(self, callback: Callable[[Frame], None]) -> Callable[[], None]:
        """Call ``callback(frame)`` on the capture thread for every frame; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def on_event(self, callback: Callable[[SourceEvent], None]) -> None:
        """Call ``callback(event)`` (on the capture thread) for state changes and errors."""
        with self._lock:
            self._listeners.append(callback)

    def _emit(self, kind: str, message: str = "") -> None:
        log.info("%s: %s %s", self.name, kind, message)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(SourceEvent(kind, message))
            except Exception:  # a broken listener must not kill capture
                log.exception("source event listener failed")

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Open the source (raising SourceError if it cannot be opened) and start capturing."""
        if self._thread is not None:
            return
        self._open()
        self._stop.clear()
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name=f"capture:{self.name}", daemon=True)
        self._thread.start()
        self._emit("started", self.name)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop capturing and release the device; joins the capture thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.state != "ended":
            self.state = "stopped"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def measured_fps(self) -> float:
        """Frames per second delivered over the last ~120 frames (0 when unknown)."""
        times = list(self._times)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        if time.monotonic() - times[-1] > 2.0:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def frames_delivered(self) -> int:
        return self._index

    # -- capture loop -----------------------------------------------------------------
    def _deliver(self, image: np.ndarray) -> None:
        if self.mirror:
            image = cv2.flip(image, 1)
        now = time.monotonic()
        frame = Frame(image=image, index=self._index, timestamp=now, source=self.name, scene=self._scene,
                      position=self._media_time())
        self._index += 1
        self._times.append(now)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(frame)
            except Exception:
                log.exception("frame subscriber failed")

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_due = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    image = self._read()
                except Exception as exc:  # noqa: BLE001 - any device failure
                    if self._stop.is_set():
                        return  # stop() ended the read (a stream's socket is shut down)
                    if not self.reconnects:
                        self._emit("error", self._named(str(exc)))
                        self.state = "ended"
                        return
                    if not self._reconnect(str(exc)):
                        return
                    next_due = time.monotonic()
                    continue
                if image is None:
                    if self.reconnects:
                        if not self._reconnect("the stream ended"):
                            return
                        next_due = time.monotonic()
                        continue
                    self.state = "ended"
                    self._emit("ended", f"{self.name}: end of stream")
                    return
                self._deliver(image)
                if self._next_backoff is not None and time.monotonic() - self._reconnected_at >= self.STABLE_AFTER_S:
                    self._next_backoff = None
                if self.pace:
                    next_due += period
                    delay = next_due - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    elif delay < -period:  # we fell behind (slow disk, suspend): don't burst to catch up
                        next_due = time.monotonic()
        finally:
            try:
                self._close()
            except Exception:
                log.exception("closing %s failed", self.name)
            self._emit("stopped", self.name)

    def _named(self, message: str) -> str:
        """``message`` prefixed with the source's name, unless it starts with it already."""
        return message if message.startswith(self.name) else f"{self.name}: {message}"

    def _reconnect(self, reason: str) -> bool:
        """Re-open with exponential backoff until it works or we are stopped.

        The delay doubles after each failed re-open up to ``backoff_max``, and carries on
        from there when the connection fails again within ``STABLE_AFTER_S``.
        """
        self.state = "reconnecting"
        self._emit("disconnected", self._named(reason))
        try:
            self._close()
        except Exception:
            log.debug("close before reconnect failed", exc_info=True)
        delay = self._next_backoff or self.backoff_initial
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            self._emit("reconnecting", f"{self.name}: attempt {attempt}, next in {delay:.2g} s")
            if self._stop.wait(delay):
                return False
            try:
                self._open()
            except Exception as exc:  # noqa: BLE001
                log.debug("reopen failed: %s", exc)
                delay = min(delay * 2.0, self.backoff_max)
                continue
            self._next_backoff = min(delay * 2.0, self.backoff_max)
            self._reconnected_at = time.monotonic()
            self.state = "running"
            self._emit("reconnected", self.name)
            return True
        return False

    # -- for subclasses ---------------------------------------------------------------
    def _media_time(self) -> float | None:
        """Seconds into the media of the picture ``_read`` just returned (files), None for live sources."""
        return None

    def _open(self) -> None:
        raise NotImplementedError

    def _read(self) -> np.ndarray | None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class CaptureSource(FrameSource):
    """A source read through an OpenCV ``VideoCapture`` (webcams, network streams, files).

    ``_open`` checks that a first picture arrives and passes the capture and that picture
    to ``_adopt``; the first ``_read`` hands that picture on. The default ``_read`` is a
    live device's: a failed read raises ``SourceError(self._lost_message())``, which
    makes a source that ``reconnects`` re-open it.
    """

    def __init__(self, name: str, fps: float = 30.0, pace: bool = False) -> None:
        super().__init__(name, fps=fps, pace=pace)
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None

    def _adopt(self, cap: cv2.VideoCapture, first: np.ndarray) -> None:
        reported = cap.get(cv2.CAP_PROP_FPS)
        if reported and 1 <= reported <= 240:
            self.fps = float(reported)
        self._cap = cap
        self._first = first

    def _take_first(self) -> np.ndarray | None:
        """The picture ``_open`` read, once (uint8 BGR), else None."""
        if self._first is None:
            return None
        image, self._first = self._first, None
        return to_bgr8(image, self.name)

    def _lost_message(self) -> str:
        return f"{self.name} stopped delivering frames"

    def _read(self) -> np.ndarray | None:
        first = self._take_first()
        if first is not None:
            return first
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(self._lost_message())
        return to_bgr8(image, self.name)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
