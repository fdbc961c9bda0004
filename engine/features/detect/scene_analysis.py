"""Tracking and counting in one step per frame, shared by the live task and the CLI.

``SceneAnalyzer.step`` takes one frame's detections (or plain arrays read back from a
``detect --json`` file) and returns a ``TrackedFrame``: the tracks, the counting events of
that frame and the counts so far. It holds no Qt and no torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from engine.features.detect.counting import CountEvent, RegionCounter, Regions
from engine.features.detect.tracking import ByteTracker, TrackerConfig, Tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class TrackedFrame:
    """What tracking and counting made of one frame.

    tracks: the reported tracks (boxes xyxy frame pixels). events: the counting events of
    this frame. counts: ``RegionCounter.snapshot()`` after this frame (JSON-ready).
    track_ids: (N,) int64 track id of each input detection, -1 where none.
    inside: zone name -> {track id: seconds inside so far}.
    """

    tracks: Tracks
    events: tuple[CountEvent, ...]
    counts: dict
    track_ids: np.ndarray
    inside: dict = field(default_factory=dict)


class SceneAnalyzer:
    """A tracker plus the counters of one source's lines and zones."""

    def __init__(self, regions: Regions | None = None, class_names: tuple[str, ...] = (),
                 config: TrackerConfig | None = None) -> None:
        self.tracker = ByteTracker(config)
        self.class_names = tuple(class_names)
        self.counter = RegionCounter(regions or Regions(), self.class_names)

    @property
    def regions(self) -> Regions:
        return self.counter.regions

    def set_regions(self, regions: Regions) -> None:
        """New lines/zones: tracks are kept, and so are the counts of every line and zone
        whose geometry did not change (renamed ones included); new or moved ones start
        from zero (``RegionCounter.with_regions``)."""
        if regions != self.counter.regions:
            self.counter = self.counter.with_regions(regions)

    def step(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, time: float,
             frame: int, time_base: str = "video") -> TrackedFrame:
        """Track (N, 4) xyxy boxes with (N,) scores and class ids at ``time`` seconds
        (``time_base``: "video" seconds into a file, or "wall" Unix seconds)."""
        tracks = self.tracker.update(boxes, scores, class_ids)
        events = self.counter.update(tracks, time, frame, time_base)
        inside = {z.name: self.counter.inside(z.name) for z in self.counter.regions.zones}
        return TrackedFrame(tracks, tuple(events), self.counter.snapshot(),
                            tracks.track_ids_for_detections(len(scores)), inside)
