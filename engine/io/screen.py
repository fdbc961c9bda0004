"""Screen capture as a live source (``mss``): the whole desktop, one monitor or a region.

Spec syntax (``open_source``): "screen" (all monitors together), "screen:N" (monitor N,
1-based as mss numbers them), "screen:X,Y,W,H" (a region in desktop pixels), each
optionally followed by "@FPS" ("screen:1@10"). Frames are uint8 BGR (H, W, 3) of the
captured area's size, taken at the chosen rate (default 10 fps, from MIN_SCREEN_FPS to
MAX_SCREEN_FPS). A malformed spec or rate raises SourceError with one message naming it.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from engine.core.errors import SourceError
from engine.io.base import FrameSource

log = logging.getLogger(__name__)

# Anything that starts with "screen" followed by ":" or "@" (or nothing) is a screen spec,
# so a mistyped rate ("screen@.", "screen@1e9") gets the screen's own message instead of
# being taken for a file name.
_SPEC = re.compile(r"^screen(?::(?P<what>[^@]*))?(?:@(?P<fps>.*))?$", re.IGNORECASE | re.DOTALL)
# A rate is written as a plain decimal number: no exponent, sign, "nan" or "inf".
_RATE = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")

DEFAULT_SCREEN_FPS = 10.0
#: Slowest rate: one frame every 5 s. Below it the capture thread sleeps so long between
#: grabs that the picture looks frozen (and stopping waits for the sleep to end).
MIN_SCREEN_FPS = 0.2
#: Fastest rate: a desktop grab costs several ms, and more frames than a monitor shows
#: only load the machine.
MAX_SCREEN_FPS = 60.0
_SPEC_HELP = "use screen, screen:N (monitor N) or screen:X,Y,W,H (a region), optionally followed by @FPS, e.g. screen:1@10"


def is_screen_spec(text: str) -> bool:
    """Whether ``text`` names the screen ("screen", "screen:1@10", also a malformed "screen@x")."""
    return bool(_SPEC.match(str(text).strip()))


def check_screen_fps(fps: object, spec: str = "screen") -> float:
    """``fps`` as a float in [MIN_SCREEN_FPS, MAX_SCREEN_FPS]; SourceError naming ``spec`` otherwise.

    Accepts a number or the text after "@" in a spec (a plain decimal such as "10" or "2.5").
    """
    if isinstance(fps, str):
        text = fps.strip()
        if not text:
            raise SourceError(f"{spec}: no frame rate after '@' ({_SPEC_HELP})")
        if not _RATE.match(text):
            raise SourceError(f"{spec}: the frame rate {text!r} is not a plain number; write the frames per "
                              f"second, from {MIN_SCREEN_FPS:g} to {MAX_SCREEN_FPS:g}, e.g. screen@10")
        value = float(text)
    elif isinstance(fps, (int, float)) and not isinstance(fps, bool):
        value = float(fps)
    else:
        raise SourceError(f"{spec}: the frame rate {fps!r} is not a number")
    if not MIN_SCREEN_FPS <= value <= MAX_SCREEN_FPS:  # also False for nan
        raise SourceError(f"{spec}: a frame rate of {value:g} per second is outside {MIN_SCREEN_FPS:g} to "
                          f"{MAX_SCREEN_FPS:g}; pick one in that range, e.g. screen@10")
    return value


def parse_screen_spec(text: str) -> tuple[int | tuple[int, int, int, int], float]:
    """"screen:1@10" -> (1, 10.0); "screen:0,0,640,480" -> ((0, 0, 640, 480), 10.0); "screen" -> (0, 10.0).

    The target is 0 (all monitors), a monitor number, or a region (x, y, w, h) in desktop
    pixels; the rate is frames per second. SourceError names the spec and what to change.
    """
    spec = str(text).strip()
    m = _SPEC.match(spec)
    if not m:
        raise SourceError(f"{text}: not a screen spec; {_SPEC_HELP}")
    what = (m.group("what") or "").strip()
    fps = check_screen_fps(m.group("fps"), spec) if m.group("fps") is not None else DEFAULT_SCREEN_FPS
    if not what:
        if m.group("what") is not None:
            raise SourceError(f"{spec}: nothing after 'screen:'; give a monitor number (screen:1) or a region "
                              "X,Y,W,H (screen:0,0,640,480)")
        return 0, fps
    parts = [p.strip() for p in what.split(",")]
    if len(parts) not in (1, 4) or not all(re.fullmatch(r"-?\d{1,6}", p) for p in parts):
        raise SourceError(f"{spec}: give a monitor number (screen:1) or a region X,Y,W,H in pixels (screen:0,0,640,480)")
    if len(parts) == 1:
        return int(parts[0]), fps
    x, y, w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0:
        raise SourceError(f"{spec}: the region's width and height must be positive")
    return (x, y, w, h), fps


class ScreenSource(FrameSource):
    """Grabs the screen with mss on the capture thread at ``fps``.

    target: 0 = all monitors, N = monitor N, or (x, y, w, h) desktop pixels (clipped to
    the desktop). Raises SourceError when there is no display or the monitor/region does
    not exist.
    """

    kind = "screen"

    def __init__(self, target: int | tuple[int, int, int, int] = 0, fps: float = DEFAULT_SCREEN_FPS) -> None:
        fps = check_screen_fps(fps)
        label = "screen" if target == 0 else (f"monitor {target}" if isinstance(target, int) else
                                              "screen region {}x{} at {},{}".format(target[2], target[3], *target[:2]))
        super().__init__(label, fps=fps, pace=True)
        self.target = target
        self._sct = None
        self._area: dict | None = None

    @classmethod
    def from_spec(cls, spec: str) -> "ScreenSource":
        target, fps = parse_screen_spec(spec)
        return cls(target, fps)

    def _open(self) -> None:
        try:
            import mss
        except ImportError:
            raise SourceError("screen capture needs the 'mss' package (pip install mss)") from None
        try:
            factory = getattr(mss, "MSS", None) or mss.mss  # mss >= 10 renamed the factory
            sct = factory()
        except Exception as exc:  # noqa: BLE001 - mss raises its own ScreenShotError, or Xlib errors
            raise SourceError(f"screen capture is not available here ({exc}); is there a display (DISPLAY)?") from None
        monitors = sct.monitors  # [0] = all together, [1..] = each monitor
        if isinstance(self.target, int):
            if not 0 <= self.target < len(monitors):
                sct.close()
                raise SourceError(f"there is no monitor {self.target} (this desktop has {len(monitors) - 1}; "
                                  "use screen:1 .. screen:{0} or screen for all)".format(len(monitors) - 1))
            area = dict(monitors[self.target])
        else:
            desk = monitors[0]
            x, y, w, h = self.target
            x2 = min(x + w, desk["left"] + desk["width"])
            y2 = min(y + h, desk["top"] + desk["height"])
            x, y = max(x, desk["left"]), max(y, desk["top"])
            if x2 <= x or y2 <= y:
                sct.close()
                raise SourceError(f"the region {self.target} is outside the desktop "
                                  f"({desk['width']}x{desk['height']} at {desk['left']},{desk['top']})")
            area = {"left": x, "top": y, "width": x2 - x, "height": y2 - y}
        self._sct, self._area = sct, area

    def _read(self) -> np.ndarray:
        if self._sct is None:
            # mss handles are per thread on X11: open in the capture thread on first use.
            self._open()
        shot = self._sct.grab(self._area)
        # BGRA -> BGR without a colour conversion: drop the alpha byte.
        return np.ascontiguousarray(np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4)[:, :, :3])

    def start(self) -> None:
        # Check the display and target now (clear errors in the caller), then let the
        # capture thread open its own handle.
        self._open()
        self._close()
        if self._thread is not None:
            return
        self._stop.clear()
        self.state = "running"
        import threading
        self._thread = threading.Thread(target=self._run, name=f"capture:{self.name}", daemon=True)
        self._thread.start()
        self._emit("started", self.name)

    def _close(self) -> None:
        if self._sct is not None:
            try:
                self._sct.close()
            finally:
                self._sct = None
