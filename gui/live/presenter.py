"""Which picture the video view shows, and which result is drawn over it (no Qt here).

Two view modes:

- **synced** (default): once the task delivers results, the view shows each result on the
  very frame it was computed from — boxes, names and heat maps never trail a moving
  object, at the price of showing the picture one inference latency late. Until the
  first result arrives (a model loading), and whenever results stop coming for a while
  (errors, a stalled model), the newest frames are shown without overlay.
- **live**: the newest frame with the newest result, as fast as the camera goes; the
  overlay is dropped when it belongs to another scene (the next image of a folder).

In both modes nothing computed on an old source is drawn after a source change: a
result whose frame was captured before the current source started is ignored.

The presenter is plain Python so the policy is testable without a window; the main
window feeds it frames and results and shows what it returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

MODES = ("synced", "live")

#: Results older than this many seconds (or 4 latencies, whichever is longer) count as stopped.
STALE_AFTER_S = 1.0


@dataclass(frozen=True)
class Shown:
    """What the view should show now: ``frame`` (an engine Frame) and the result to paint
    over it (a TaskResult, or None for the bare picture)."""

    frame: Any
    result: Any | None


class FramePresenter:
    """Decides, frame by frame and result by result, what the video view shows.

    ``frame(f)`` and ``result(r)`` return a ``Shown`` when the view must change, else None.
    ``clock`` is injectable for tests (seconds, monotonic).
    """

    def __init__(self, mode: str = "synced", clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.mode = "synced"
        self.set_mode(mode)
        self._source_start = float("-inf")
        self._has_task = False
        self._shown: Shown | None = None
        self._last_result: Any | None = None
        self._last_result_time = float("-inf")
        self._latency_s = 0.0

    # -- state changes ---------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown view mode '{mode}' (expected one of {', '.join(MODES)})")
        self.mode = mode

    def source_changed(self) -> None:
        """A new source started: every result computed before now belongs to the old one."""
        self._source_start = self._clock()
        self._last_result = None
        self._last_result_time = float("-inf")
        self._shown = None

    def task_changed(self, has_task: bool) -> None:
        """The active task was replaced (or removed): its results start from scratch."""
        self._has_task = bool(has_task)
        self._last_result = None
        self._last_result_time = float("-inf")

    # -- inputs ------------------------------------------------------------------------------
    def frame(self, frame: Any) -> Shown | None:
        """A newly captured frame arrived; returns what to show, or None to keep the picture."""
        if self.mode == "synced" and self._results_flowing():
            return None  # the next result brings its own frame
        result = self._last_result if self.mode == "live" and self._same_scene(self._last_result, frame) else None
        self._shown = Shown(frame, result)
        return self._shown

    def accepts(self, result: Any) -> bool:
        """False for a result computed on a frame of the previous source."""
        return result.frame.timestamp >= self._source_start

    def result(self, result: Any) -> Shown | None:
        """A result of the current task arrived; returns what to show, or None to ignore it."""
        frame = result.frame
        if not self.accepts(result):
            return None
        now = self._clock()
        self._last_result = result
        self._last_result_time = now
        latency = getattr(getattr(result, "timings", None), "latency_ms", None)
        if latency is not None:
            self._latency_s = float(latency) / 1000.0
        if self.mode == "synced":
            self._shown = Shown(frame, result)
            return self._shown
        shown_frame = self._shown.frame if self._shown is not None else frame
        self._shown = Shown(shown_frame, result if self._same_scene(result, shown_frame) else None)
        return self._shown

    # -- queries -------------------------------------------------------------------------------
    @property
    def shown(self) -> Shown | None:
        """What the view shows now (None before the first frame of the source)."""
        return self._shown

    def needs_frames(self) -> bool:
        """Whether newly captured frames can change what is shown. In Synced mode, while
        results flow, each result brings its own frame and the others are never shown."""
        return not (self.mode == "synced" and self._results_flowing())

    def _results_flowing(self) -> bool:
        if not self._has_task or self._last_result is None:
            return False
        patience = max(STALE_AFTER_S, 4.0 * self._latency_s)
        return self._clock() - self._last_result_time <= patience

    @staticmethod
    def _same_scene(result: Any | None, frame: Any) -> bool:
        if result is None:
            return False
        other = result.frame
        return other.source == frame.source and other.scene == frame.scene
