"""What a selected object is followed by from one result to the next (the Detect tab's selection).

The user selects a detection by its row in one result; the next result lists objects in
another order. So the selection remembers the object instead: ``("track", id)`` while it
has a track id (tracking on), else ``("box", xyxy, class_id)``, its box in frame pixels in
the latest result, looked for by overlap in the next one.
"""

from __future__ import annotations

import numpy as np

from engine.features.detect.association import iou_matrix
from engine.features.detect.scene_analysis import TrackedFrame
from engine.features.detect.types import Detections

#: Without tracking, the selection moves to the next result's box overlapping it at least this much.
FOLLOW_MIN_IOU = 0.1

#: ("track", id) or ("box", (4,) float32 x1 y1 x2 y2 frame pixels, class id).
Follow = tuple


def track_id(tracked: TrackedFrame | None, row: int) -> int:
    """The track id of detection ``row`` of a result, -1 when it has none."""
    ids = tracked.track_ids if tracked is not None else None
    return int(ids[row]) if ids is not None and 0 <= row < len(ids) else -1


def follow_row(detections: Detections, tracked: TrackedFrame | None, row: int) -> Follow:
    """What follows detection ``row`` of this result into the next ones."""
    tid = track_id(tracked, row)
    if tid >= 0:
        return ("track", tid)
    return ("box", detections.boxes[row].astype(np.float32), int(detections.class_ids[row]))


def find_followed(follow: Follow | None, detections: Detections | None,
                  tracked: TrackedFrame | None) -> tuple[int | None, Follow | None]:
    """(row of the followed object in this result or None, what follows it from now on).

    A track is looked for by id (it may come back after a gap, so it stays followed unless
    tracking was turned off); a box by overlap: the best IoU among boxes of its class, else
    among all, at least ``FOLLOW_MIN_IOU``, and its new box (or new track id) is followed
    next; a box that found no successor is let go.
    """
    if follow is None or detections is None:
        return None, follow
    if follow[0] == "track":
        if tracked is None:  # tracking was turned off: nothing to follow it by
            return None, None
        rows = np.flatnonzero(tracked.track_ids == follow[1])
        return (int(rows[0]) if len(rows) else None), follow
    _kind, box, class_id = follow
    if not len(detections):
        return None, None
    iou = iou_matrix(box[None, :], detections.boxes)[0]
    same = iou * (detections.class_ids == class_id)
    best = same if same.max() >= FOLLOW_MIN_IOU else iou
    row = int(best.argmax())
    if best[row] < FOLLOW_MIN_IOU:
        return None, None
    return row, follow_row(detections, tracked, row)
