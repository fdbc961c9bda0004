"""A frame and a source's events: what every layer above the sources passes around.

Images are numpy uint8 BGR arrays of shape (H, W, 3), C-contiguous (OpenCV order).
Timestamps are ``time.monotonic()`` seconds taken when the frame was captured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One captured image.

    image: (H, W, 3) uint8 BGR. index: 0-based count of frames delivered by its source.
    timestamp: time.monotonic() seconds at capture. source: the source's display name.
    position: seconds into the video file where this picture sits (its frame number in
    the file / the file's fps; it starts again at 0 when a looping video restarts), None
    for live sources (cameras, streams, the screen, the demo) whose time is the wall clock.
    scene: changes whenever the picture stops being a continuation of the previous one
    (the next image of a folder); results computed on another scene are never drawn
    over this frame.
    """

    image: np.ndarray
    index: int
    timestamp: float
    source: str = ""
    scene: int = 0
    position: float | None = None

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
