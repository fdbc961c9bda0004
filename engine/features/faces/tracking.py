"""Face tracks across frames (greedy IoU matching) so that labels do not flicker.

Each track remembers the labels of its last few frames and shows the most frequent
one, so one bad frame cannot turn "Alice" into "Unknown" and back.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), x1 y1 x2 y2 -> (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)).astype(np.float32)


@dataclass
class Track:
    id: int
    box: np.ndarray
    history: deque = field(default_factory=lambda: deque(maxlen=7))
    misses: int = 0

    def label(self) -> tuple[str, float]:
        """(most frequent recent label, latest distance seen with that label)."""
        counts = Counter(name for name, _ in self.history)
        best = max(counts.values())
        # Ties go to the most recent label.
        for name, distance in reversed(self.history):
            if counts[name] == best:
                return name, distance
        raise AssertionError("empty history")


class FaceTracker:
    """Assigns detections to tracks by IoU and smooths their labels.

    iou_threshold: minimum overlap to continue a track. max_misses: frames a track
    survives without a detection. history: frames of labels voted over.
    """

    def __init__(self, iou_threshold: float = 0.3, max_misses: int = 5, history: int = 7) -> None:
        self.iou_threshold = iou_threshold
        self.max_misses = max_misses
        self.history = history
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def update(self, boxes: np.ndarray, labels: list[tuple[str, float]]) -> list[tuple[int, str, float]]:
        """boxes (N, 4) of this frame, labels [(name, distance)] -> [(track id, shown label, distance)]."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        assigned: dict[int, Track] = {}
        if self.tracks and len(boxes):
            ious = iou_matrix(boxes, np.stack([t.box for t in self.tracks]))
            while True:
                i, j = np.unravel_index(int(np.argmax(ious)), ious.shape)
                if ious[i, j] < self.iou_threshold:
                    break
                assigned[int(i)] = self.tracks[int(j)]
                ious[i, :] = -1
                ious[:, j] = -1
        used = {id(t) for t in assigned.values()}
        for track in self.tracks:
            if id(track) not in used:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        out = []
        for i, box in enumerate(boxes):
            track = assigned.get(i)
            if track is None:
                track = Track(next(self._ids), box, deque(maxlen=self.history))
                self.tracks.append(track)
            track.box = box
            track.misses = 0
            track.history.append(labels[i])
            name, distance = track.label()
            out.append((track.id, name, distance))
        return out

    def reset(self) -> None:
        self.tracks.clear()
