"""Frame sources: webcam, video file, image, image folder and a synthetic demo.

Every live source runs its own capture thread and hands each frame to its subscribers
(callbacks that must only pass the frame on, e.g. into a ``Mailbox``). Capture never
waits for anyone downstream.

Images are numpy uint8 BGR arrays of shape (H, W, 3), C-contiguous (OpenCV order).
Timestamps are ``time.monotonic()`` seconds taken when the frame was captured.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"})


class SourceError(RuntimeError):
    """A source could not be opened or read; the message says which and what to do."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One captured image.

    image: (H, W, 3) uint8 BGR. index: 0-based count of frames delivered by its source.
    timestamp: time.monotonic() seconds at capture. source: the source's display name.
    scene: changes whenever the picture stops being a continuation of the previous one
    (the next image of a folder); results computed on another scene are never drawn
    over this frame.
    """

    image: np.ndarray
    index: int
    timestamp: float
    source: str = ""
    scene: int = 0

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True)
class SourceEvent:
    """Something the user should know about a source.

    kind: "started", "ended", "error", "disconnected", "reconnecting", "reconnected",
    "skipped" (a bad file inside a folder) or "stopped".
    """

    kind: str
    message: str = ""


@dataclass(frozen=True)
class CameraInfo:
    """A camera the platform reports: OpenCV index, device path (Linux) and a name."""

    index: int
    path: str = ""
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name or 'Camera'} ({self.path or self.index})"


# ----------------------------------------------------------------------------- images


def to_bgr8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert any image OpenCV can return (gray, BGRA, 16-bit, float) to (H, W, 3) uint8 BGR."""
    if image is None or image.size == 0:
        raise SourceError(f"{name}: the image is empty")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        scale = 255.0 if float(np.nanmax(image)) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image) * scale, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise SourceError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        # Composite onto white so transparent logos and stickers stay visible.
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = (image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise SourceError(f"{name}: unsupported image shape {image.shape}")
    return np.ascontiguousarray(image)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 BGR.

    Grayscale, alpha and 16-bit images are converted. Raises SourceError naming the file
    when it is missing, not a regular file (a FIFO or a device would block or never
    end), larger than the input limit, not an image, or damaged.

    Memory stays bounded (``engine.core.limits``): the dimensions are read from the header
    before decoding. A JPEG with more than ``max_image_pixels`` is decoded downscaled by
    2, 4 or 8 (libjpeg scales while decoding, so the full image never exists in memory),
    up to ``max_decode_pixels``; other formats over the limit are refused with a message
    that gives the limit and how to raise it.
    """
    from engine.core import limits
    from engine.io.image_header import HeaderError, image_size
    from engine.core.regular_files import RegularFileError, open_regular

    p = Path(path)
    limit = limits.current()
    try:
        # One open of a regular file (a FIFO or a device is refused without blocking),
        # its size bounded before anything is read; header and data come from it.
        with open_regular(p, limit.max_input_bytes, what="image", hint=limit.hint("max_input_bytes")) as fh:
            declared = image_size(fh)
            fh.seek(0)
            data = np.frombuffer(fh.read(limit.max_input_bytes + 1), dtype=np.uint8)
    except RegularFileError as exc:
        raise SourceError(str(exc)) from None
    except HeaderError as exc:
        raise SourceError(f"{p}: damaged image ({exc})") from exc
    except OSError as exc:
        raise SourceError(f"{p}: cannot be read ({exc.strerror or exc})") from exc
    if data.size == 0:
        raise SourceError(f"{p}: the file is empty")
    flags = cv2.IMREAD_UNCHANGED
    if declared is not None:
        flags = _decode_flags(p, *declared, limit)
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as exc:
        raise SourceError(f"{p}: not an image OpenCV can decode ({str(exc).strip().splitlines()[-1]})") from exc
    if image is None:
        raise SourceError(f"{p}: not an image OpenCV can decode (damaged, or an unsupported format)")
    if image.ndim == 3 and image.shape[2] == 4 and p.suffix.lower() in {".jpg", ".jpeg"}:
        image = image[:, :, :3]
    if image.shape[0] * image.shape[1] > limit.max_image_pixels:
        # A format whose header we do not parse: OpenCV's own pixel limit bounded the decode.
        scale = math.sqrt(limit.max_image_pixels / (image.shape[0] * image.shape[1]))
        size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
        log.warning("%s: %dx%d pixels, downscaled to %dx%d (limit %s)", p, image.shape[1], image.shape[0], *size,
                    limits.megapixels(limit.max_image_pixels))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return to_bgr8(image, str(p))


_REDUCED_FLAGS = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))


def _decode_flags(p: Path, kind: str, width: int, height: int, limit) -> int:
    """cv2.imdecode flags that keep the decoded image within ``limit``; SourceError when
    no such decode exists."""
    from engine.core import limits

    pixels = width * height
    if pixels <= limit.max_image_pixels:
        return cv2.IMREAD_UNCHANGED
    # Exact counts: rounded megapixels made "24 MP is more than the limit of 24 MP".
    claimed = f"{p}: {width}x{height} = {pixels:,} pixels"
    if kind == "jpeg" and pixels <= limit.max_decode_pixels:
        for factor, flag in _REDUCED_FLAGS:
            if math.ceil(width / factor) * math.ceil(height / factor) <= limit.max_image_pixels:
                log.warning("%s is read downscaled by %d (the image limit is %s)", claimed, factor,
                            limits.megapixels(limit.max_image_pixels))
                return flag
    if kind == "jpeg":
        raise SourceError(f"{claimed} is more than the largest photo that can be read, {limit.max_decode_pixels:,} "
                          f"pixels ({limits.megapixels(limit.max_decode_pixels)}; {limit.hint('max_decode_pixels')})")
    raise SourceError(f"{claimed} is more than the image limit of {limit.max_image_pixels:,} pixels "
                      f"({limits.megapixels(limit.max_image_pixels)}; {limit.hint('max_image_pixels')}, "
                      "or save it as JPEG, which is read downscaled)")


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    root = Path(folder)
    return sorted((p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name)


def classify(spec: str) -> str:
    """What kind of source ``spec`` names: "demo", "camera", "video", "image" or "folder".

    Raises SourceError when a path does not exist or has an unknown type.
    """
    text = str(spec).strip()
    if text.lower() == "demo":
        return "demo"
    kind = _network_or_screen(text)
    if kind:
        return kind
    if text.isdigit() or text.startswith("/dev/video"):
        return "camera"
    p = Path(text).expanduser()
    if not p.exists():
        raise SourceError(f"{text}: no such file or folder (use 'demo', a camera index such as 0, a video, an image or a folder)")
    if p.is_dir():
        return "folder"
    from engine.io.image_header import image_format
    from engine.core.safe_files import input_file_problem

    problem = input_file_problem(p)
    if problem:
        raise SourceError(problem)
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    # Unknown suffix: the first bytes tell images apart (nothing is decoded here).
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise SourceError(f"{text}: cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise SourceError(f"{text}: the file is empty")
    if image_format(head) is not None:
        return "image"
    return "video"


# ----------------------------------------------------------------------------- sources


class FrameSource:
    """Base class of live sources: a capture thread that delivers frames to subscribers.

    Subclasses implement ``_open()``, ``_read() -> ndarray | None`` (None = end of
    stream) and ``_close()``. ``_read`` raising means the device failed; sources that
    ``reconnects`` then re-open with exponential backoff.
    """

    reconnects = False
    kind = "source"

    def __init__(self, name: str, fps: float = 30.0, pace: bool = True) -> None:
        self.name = name
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.pace = pace  # sleep to keep self.fps (files, demo); cameras pace themselves
        self.mirror = False
        self.backoff_initial = 0.25
        self.backoff_max = 4.0
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
        frame = Frame(image=image, index=self._index, timestamp=now, source=self.name, scene=self._scene)
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
                    if not self.reconnects:
                        self._emit("error", f"{self.name}: {exc}")
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

    def _reconnect(self, reason: str) -> bool:
        """Re-open with exponential backoff until it works or we are stopped."""
        self.state = "reconnecting"
        self._emit("disconnected", f"{self.name}: {reason}")
        try:
            self._close()
        except Exception:
            log.debug("close before reconnect failed", exc_info=True)
        delay = self.backoff_initial
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
            self.state = "running"
            self._emit("reconnected", self.name)
            return True
        return False

    # -- for subclasses ---------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _read(self) -> np.ndarray | None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class DemoSource(FrameSource):
    """Synthetic moving content so the app is useful without a camera.

    Draws a slowly shifting gradient, shapes that bounce (circles, squares, a triangle,
    stripes) and a clock, at ``fps`` frames per second and ``width`` x ``height`` pixels.
    """

    kind = "demo"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, seed: int = 0) -> None:
        super().__init__("demo", fps=fps, pace=True)
        self.width, self.height = int(width), int(height)
        rng = np.random.default_rng(seed)
        short = min(self.width, self.height)
        speed = short / 120.0  # about 4 px per frame at 480 p, whatever the size
        self._shapes = []
        for kind in ("circle", "square", "triangle", "circle", "stripes"):
            size = float(rng.uniform(0.06, 0.15) * short)
            self._shapes.append(
                {
                    "kind": kind,
                    "pos": rng.uniform([size, size], [self.width - size, self.height - size]),
                    "vel": (rng.uniform(-1, 1, size=2) + np.sign(rng.uniform(-1, 1, size=2))) * speed,
                    "size": size,
                    "color": tuple(int(c) for c in rng.integers(40, 255, size=3)),
                }
            )
        self._x = np.arange(self.width, dtype=np.float32) / max(self.width, 1)
        self._y = np.arange(self.height, dtype=np.float32) / max(self.height, 1)
        self._green = (90 + 60 * self._y * 2).clip(0, 255).astype(np.uint8)
        self._t = 0

    def _open(self) -> None:
        pass

    def render(self, t: int) -> np.ndarray:
        """The demo image for tick ``t`` (deterministic for a given seed and tick)."""
        phase = t / 90.0
        base = np.empty((self.height, self.width, 3), np.uint8)
        # Each channel varies along one axis only: compute a row or a column and broadcast
        # (a full-frame sin per channel cost the capture thread more CPU than a small model).
        base[:, :, 0] = (110 + 80 * np.sin(2 * math.pi * (self._x + phase * 0.3))).astype(np.uint8)[None, :]
        base[:, :, 1] = self._green[:, None]
        base[:, :, 2] = (70 + 70 * np.cos(2 * math.pi * (self._y - phase * 0.2))).astype(np.uint8)[:, None]
        for shape in self._shapes:
            pos = shape["pos"] + shape["vel"] * t
            # Reflect off the borders so shapes bounce around the frame.
            span = np.array([self.width, self.height], dtype=np.float64) - 2 * shape["size"]
            p = np.abs((pos - shape["size"]) % (2 * span) - span) * -1 + span + shape["size"]
            x, y, s, color = int(p[0]), int(p[1]), int(shape["size"]), shape["color"]
            if shape["kind"] == "circle":
                cv2.circle(base, (x, y), s, color, -1, cv2.LINE_AA)
                cv2.circle(base, (x - s // 3, y - s // 3), max(s // 5, 2), (255, 255, 255), -1, cv2.LINE_AA)
            elif shape["kind"] == "square":
                angle = t * 2.0
                box = cv2.boxPoints(((x, y), (2 * s, 2 * s), angle)).astype(np.int32)
                cv2.fillConvexPoly(base, box, color, cv2.LINE_AA)
            elif shape["kind"] == "triangle":
                pts = np.array([[x, y - s], [x - s, y + s], [x + s, y + s]], np.int32)
                cv2.fillConvexPoly(base, pts, color, cv2.LINE_AA)
            else:
                for k in range(-2, 3):
                    cv2.line(base, (x - s, y + k * s // 3), (x + s, y + k * s // 3), color, max(s // 8, 2), cv2.LINE_AA)
        clock = time.strftime("%H:%M:%S")
        # One line of text on a dark band: anti-aliased text with an outline cost 4 ms a frame.
        base[self.height - 34 : self.height - 6, 6 : 330] //= 3
        cv2.putText(base, f"CNN Studio demo  {clock}  #{t}", (12, self.height - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 1, cv2.LINE_AA)
        return base

    def _read(self) -> np.ndarray:
        image = self.render(self._t)
        self._t += 1
        return image


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


class CameraSource(CaptureSource):
    """A webcam by OpenCV index or device path; reconnects with backoff when it vanishes.

    width, height, fps: what to ask the driver for (it may give something else; the
    frames say what it gave).
    """

    kind = "camera"
    reconnects = True

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None, fps: float | None = None) -> None:
        self.device: int | str = int(device) if isinstance(device, str) and device.isdigit() else device
        super().__init__(f"camera {self.device}", fps=fps or 30.0, pace=False)
        self.requested = (width, height, fps)

    def _open(self) -> None:
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            hint = " (no camera with that index; try 0, or `python main.py --source demo`)" if isinstance(self.device, int) else ""
            raise SourceError(f"camera {self.device} could not be opened{hint}")
        width, height, fps = self.requested
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        # A small driver buffer keeps latency low; not every backend honours it.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        ok, image = cap.read()
        if not ok or image is None:
            cap.release()
            raise SourceError(f"camera {self.device} opened but gave no frame (is another program using it?)")
        self._adopt(cap, image)

    def _lost_message(self) -> str:
        return f"{self.name} stopped delivering frames (unplugged?)"


class VideoSource(CaptureSource):
    """A video file, played at the file's frame rate (``realtime``) or as fast as possible.

    loop: start again at the end instead of ending.
    """

    kind = "video"

    def __init__(self, path: str | os.PathLike[str], realtime: bool = True, loop: bool = False) -> None:
        self.path = Path(path)
        self.loop = loop
        super().__init__(self.path.name, pace=realtime)
        self.frame_count = 0
        self._open()  # validate now so a bad file fails in the caller, with its name
        self._close()

    def _open(self) -> None:
        from engine.core.safe_files import input_file_problem

        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        problem = input_file_problem(self.path)
        if problem:
            raise SourceError(problem)
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.path}: cannot be opened as a video (damaged, or a codec OpenCV lacks)")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{self.path}: contains no readable video frames")
        self.fps = 30.0  # unless the file says otherwise
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._adopt(cap, first)

    def _read(self) -> np.ndarray | None:
        if self._cap is None:
            self._open()
        first = self._take_first()
        if first is not None:
            return first
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            if not self.loop:
                return None
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
            if not ok or image is None:
                return None
        return to_bgr8(image, self.name)


class ImageSource(FrameSource):
    """One still image, delivered repeatedly at ``fps`` so live tasks keep running on it.

    The same array is delivered each time (no copies); consumers must not modify it.
    """

    kind = "image"

    def __init__(self, path: str | os.PathLike[str], fps: float = 15.0) -> None:
        self.path = Path(path)
        super().__init__(self.path.name, fps=fps, pace=True)
        self.image = read_image(self.path)
        self.image.setflags(write=False)

    def _open(self) -> None:
        pass

    def _read(self) -> np.ndarray:
        return self.image


class FolderSource(FrameSource):
    """A folder of images shown as a slideshow: each image for ``seconds_per_image``.

    Files that fail to decode are skipped with a "skipped" event naming them.
    loop: start again after the last image instead of ending.
    """

    kind = "folder"

    def __init__(self, path: str | os.PathLike[str], seconds_per_image: float = 2.0, fps: float = 15.0, loop: bool = True) -> None:
        self.path = Path(path)
        super().__init__(self.path.name or str(self.path), fps=fps, pace=True)
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: not a folder")
        self.files = list_images(self.path)
        if not self.files:
            raise SourceError(f"{self.path}: the folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.loop = loop
        self.repeats = max(1, int(round(seconds_per_image * self.fps)))
        self._position = -1
        self._current: np.ndarray | None = None
        self._shown = 0

    def _open(self) -> None:
        pass

    def _advance(self) -> np.ndarray | None:
        tried = 0
        while tried < len(self.files):
            self._position += 1
            if self._position >= len(self.files):
                if not self.loop:
                    return None
                self._position = 0
            tried += 1
            try:
                return read_image(self.files[self._position])
            except SourceError as exc:
                self._emit("skipped", str(exc))
        raise SourceError(f"{self.path}: none of the {len(self.files)} images could be read")

    def _read(self) -> np.ndarray | None:
        if self._current is None or self._shown >= self.repeats:
            self._current = self._advance()
            self._shown = 0
            self._scene += 1
            if self._current is None:
                return None
        self._shown += 1
        return self._current


def open_source(spec: str | int, **options: object) -> FrameSource:
    """Make (but do not start) the source named by ``spec``.

    spec: "demo"; a camera index (0, "1") or device path ("/dev/video0"); a video file;
    an image file; a folder of images. ``options`` go to the source's constructor
    (e.g. width/height/fps for cameras, realtime/loop for videos). Raises SourceError.
    """
    text = str(spec).strip()
    kind = classify(text)
    if kind == "demo":
        return DemoSource(**options)  # type: ignore[arg-type]
    if kind == "camera":
        return CameraSource(text, **options)  # type: ignore[arg-type]
    if kind == "video":
        return VideoSource(text, **options)  # type: ignore[arg-type]
    if kind == "image":
        return ImageSource(text, **options)  # type: ignore[arg-type]
    if kind in ("stream", "screen"):
        return _open_network_or_screen(kind, text, **options)
    return FolderSource(text, **options)  # type: ignore[arg-type]


def _network_or_screen(text: str) -> str:
    """"stream" for rtsp/http(s) URLs, "screen" for screen specs, else "" (see stream_source/screen_source)."""
    from engine.io.screen import is_screen_spec
    from engine.io.stream import is_stream_url
    return "stream" if is_stream_url(text) else ("screen" if is_screen_spec(text) else "")


def _open_network_or_screen(kind: str, text: str, **options: object) -> FrameSource:
    if kind == "stream":
        from engine.io.stream import StreamSource
        return StreamSource(text, **options)  # type: ignore[arg-type]
    from engine.io.screen import ScreenSource, parse_screen_spec
    target, fps = parse_screen_spec(text)
    return ScreenSource(target, float(options.get("fps", fps)))  # type: ignore[arg-type]


def iter_frames(spec: str | os.PathLike[str], *, loop: bool = False) -> Iterator[Frame]:
    """Frames of an image, a folder of images or a video, synchronously and as fast as possible.

    For batch work (the CLI). A folder's unreadable files are skipped with a warning
    logged; a folder with no readable image, or an unreadable image or video, raises
    SourceError. ``loop`` repeats videos and folders forever.
    """
    text = str(spec)
    kind = classify(text)
    if kind in ("demo", "camera", "stream", "screen"):
        raise SourceError(f"{text if kind != 'stream' else 'a stream'}: batch processing needs an image, a folder "
                          "or a video file")
    index = 0
    if kind == "image":
        image = read_image(text)
        while True:
            yield Frame(image, index, time.monotonic(), Path(text).name)
            index += 1
            if not loop:
                return
    if kind == "folder":
        files = list_images(text)
        if not files:
            raise SourceError(f"{text}: the folder has no images")
        while True:
            good = 0
            for path in files:
                try:
                    image = read_image(path)
                except SourceError as exc:
                    log.warning("skipping %s", exc)
                    continue
                good += 1
                yield Frame(image, index, time.monotonic(), path.name)
                index += 1
            if good == 0:
                raise SourceError(f"{text}: none of the {len(files)} images could be read")
            if not loop:
                return
    source = VideoSource(text, realtime=False, loop=loop)
    source._open()
    try:
        while True:
            image = source._read()
            if image is None:
                return
            yield Frame(image, index, time.monotonic(), source.name)
            index += 1
    finally:
        source._close()


def list_cameras(max_probe: int = 4) -> list[CameraInfo]:
    """The cameras that exist, with names where the platform gives them.

    Linux: the V4L2 capture devices under /dev (names from sysfs), without opening them.
    Elsewhere: indices 0..max_probe-1 that OpenCV can open.
    """
    cameras: list[CameraInfo] = []
    if sys.platform.startswith("linux"):
        for dev in sorted(glob.glob("/dev/video*"), key=lambda d: int("".join(ch for ch in d if ch.isdigit()) or 0)):
            number = "".join(ch for ch in os.path.basename(dev) if ch.isdigit())
            if not number:
                continue
            sys_dir = Path("/sys/class/video4linux") / os.path.basename(dev)
            name = ""
            try:
                name = (sys_dir / "name").read_text().strip()
            except OSError:
                pass
            # Each UVC camera exposes a metadata node too; index 0 of the device is the capture one.
            try:
                if (sys_dir / "index").read_text().strip() not in ("", "0"):
                    continue
            except OSError:
                pass
            cameras.append(CameraInfo(int(number), dev, name))
        return cameras
    for index in range(max_probe):
        cap = cv2.VideoCapture(index)
        try:
            if cap.isOpened():
                cameras.append(CameraInfo(index, "", f"Camera {index}"))
        finally:
            cap.release()
    return cameras
