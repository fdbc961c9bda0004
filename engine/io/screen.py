"""Screen capture as a live source (``mss``): the whole desktop, one monitor or a region.

Spec syntax (``open_source``): "screen" (all monitors together), "screen:N" (monitor N,
1-based as mss numbers them), "screen:X,Y,W,H" (a region in desktop pixels), each
optionally followed by "@FPS" ("screen:1@10"). Frames are uint8 BGR (H, W, 3) of the
captured area's size, taken at the chosen rate (default 10 fps).
"""

from __future__ import annotations

import logging
import re

import numpy as np

from engine.io.sources import FrameSource, SourceError

log = logging.getLogger(__name__)

_SPEC = re.compile(r"^screen(?::(?P<what>[^@]*))?(?:@(?P<fps>[0-9.]+))?$", re.IGNORECASE)


def is_screen_spec(text: str) -> bool:
    return bool(_SPEC.match(str(text).strip()))


def parse_screen_spec(text: str) -> tuple[int | tuple[int, int, int, int], float]:
    """"screen:1@10" -> (1, 10.0); "screen:0,0,640,480" -> ((0, 0, 640, 480), 10.0); "screen" -> (0, 10.0)."""
    m = _SPEC.match(str(text).strip())
    if not m:
        raise SourceError(f"{text}: use screen, screen:N (a monitor) or screen:X,Y,W,H, optionally @FPS")
    what = (m.group("what") or "").strip()
    fps = float(m.group("fps")) if m.group("fps") else 10.0
    if not 0 < fps <= 120:
        raise SourceError(f"{text}: the frame rate must be between 0 and 120")
    if not what:
        return 0, fps
    parts = [p.strip() for p in what.split(",")]
    if not all(p.lstrip("-").isdigit() for p in parts) or len(parts) not in (1, 4):
        raise SourceError(f"{text}: give a monitor number (screen:1) or a region X,Y,W,H (screen:0,0,640,480)")
    if len(parts) == 1:
        return int(parts[0]), fps
    x, y, w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0:
        raise SourceError(f"{text}: the region's width and height must be positive")
    return (x, y, w, h), fps


class ScreenSource(FrameSource):
    """Grabs the screen with mss on the capture thread at ``fps``.

    target: 0 = all monitors, N = monitor N, or (x, y, w, h) desktop pixels (clipped to
    the desktop). Raises SourceError when there is no display or the monitor/region does
    not exist.
    """

    kind = "screen"

    def __init__(self, target: int | tuple[int, int, int, int] = 0, fps: float = 10.0) -> None:
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
