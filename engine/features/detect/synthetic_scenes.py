"""Synthetic scenes of moving boxes with known ground truth, for tracker tests and benchmarks.

A scene is a list of ``MovingObject`` (straight-line motion at constant velocity between a
first and a last frame) and optional occluders (rectangles that hide an object whose
centre is inside them). ``render_detections`` turns it into what a detector would report
per frame, with optional jitter, missed detections and false positives, so the tracker
can be scored against the exact truth.

Coordinates: boxes are xyxy float32 frame pixels; velocities are pixels per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MovingObject:
    """One object: id, class, box size (w, h), centre at ``first`` frame, velocity."""

    object_id: int
    class_id: int
    first: int
    last: int
    start: tuple[float, float]
    velocity: tuple[float, float]
    size: tuple[float, float] = (40.0, 40.0)

    def center(self, frame: int) -> tuple[float, float]:
        t = frame - self.first
        return self.start[0] + self.velocity[0] * t, self.start[1] + self.velocity[1] * t

    def box(self, frame: int) -> np.ndarray:
        cx, cy = self.center(frame)
        w, h = self.size
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth and detections of one frame.

    ids/boxes/class_ids: the visible objects (not occluded). det_*: what the detector
    reports (noisy, some missed, some false). det_truth: for each detection the object
    id it comes from, -1 for a false positive.
    """

    index: int
    ids: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_class_ids: np.ndarray
    det_truth: np.ndarray


def render_detections(objects: list[MovingObject], frames: int, *, occluders: tuple = (),
                      jitter: float = 0.0, miss_rate: float = 0.0, false_rate: float = 0.0,
                      frame_size: tuple[int, int] = (1280, 720), seed: int = 0) -> list[FrameTruth]:
    """Per-frame truth and detections of a scene.

    occluders: (x1, y1, x2, y2) rectangles; an object whose centre is inside one is not
    visible. jitter: each box coordinate moves by uniform(-jitter, +jitter) pixels.
    miss_rate: probability that a visible object is not detected. false_rate: expected false
    positives per true detection (random boxes). Scores: true 0.6..0.95, false 0.5..0.7.
    """
    rng = np.random.default_rng(seed)
    width, height = frame_size
    out = []
    for f in range(frames):
        ids, boxes, classes = [], [], []
        for obj in objects:
            if not obj.first <= f <= obj.last:
                continue
            cx, cy = obj.center(f)
            if any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in occluders):
                continue
            ids.append(obj.object_id)
            boxes.append(obj.box(f))
            classes.append(obj.class_id)
        ids_a = np.asarray(ids, np.int64)
        boxes_a = np.asarray(boxes, np.float32).reshape(-1, 4)
        classes_a = np.asarray(classes, np.int64)
        detected = rng.random(len(ids_a)) >= miss_rate
        det_boxes = boxes_a[detected] + rng.uniform(-jitter, jitter, (int(detected.sum()), 4)).astype(np.float32)
        det_scores = rng.uniform(0.6, 0.95, len(det_boxes)).astype(np.float32)
        det_classes = classes_a[detected]
        det_truth = ids_a[detected]
        n_false = rng.binomial(max(len(ids_a), 1), false_rate) if false_rate > 0 else 0
        if n_false:
            w = rng.uniform(20, 60, n_false)
            h = rng.uniform(20, 60, n_false)
            x = rng.uniform(0, width - 60, n_false)
            y = rng.uniform(0, height - 60, n_false)
            fp = np.stack((x, y, x + w, y + h), axis=1).astype(np.float32)
            det_boxes = np.concatenate((det_boxes, fp))
            det_scores = np.concatenate((det_scores, rng.uniform(0.5, 0.7, n_false).astype(np.float32)))
            det_classes = np.concatenate((det_classes, rng.integers(0, 3, n_false)))
            det_truth = np.concatenate((det_truth, -np.ones(n_false, np.int64)))
        out.append(FrameTruth(f, ids_a, boxes_a, classes_a, det_boxes.reshape(-1, 4), det_scores,
                              det_classes.astype(np.int64), det_truth))
    return out


def random_objects(count: int, frames: int, frame_size: tuple[int, int] = (1920, 1080), seed: int = 0,
                   speed: float = 4.0) -> list[MovingObject]:
    """``count`` objects on a jittered grid (few overlaps) drifting slowly, present all along."""
    rng = np.random.default_rng(seed)
    width, height = frame_size
    cols = int(np.ceil(np.sqrt(count * width / height)))
    rows = int(np.ceil(count / cols))
    cell_w, cell_h = width / cols, height / rows
    size = 0.45 * min(cell_w, cell_h)
    objects = []
    for i in range(count):
        r, c = divmod(i, cols)
        start = ((c + 0.5) * cell_w, (r + 0.5) * cell_h)
        angle = rng.uniform(0, 2 * np.pi)
        v = (speed * np.cos(angle) * 0.1, speed * np.sin(angle) * 0.1)
        objects.append(MovingObject(i + 1, int(rng.integers(0, 3)), 0, frames - 1, start, v, (size, size)))
    return objects
