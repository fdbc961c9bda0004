"""Drawing instances (OpenCV/numpy, no Qt): each mask tinted in its own colour with its
outline, its box and "label score", and people's keypoints joined as COCO's skeleton.

Images are BGR uint8 (H, W, 3) at the frame's size; ``Instances`` are in frame pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.features.segment.coco import SKELETON
from engine.features.segment.instances import Instances

#: A keypoint is drawn when the head's score for it is above this (its heat-map logit).
KEYPOINT_MIN_SCORE = 0.0


def instance_colours(count: int) -> np.ndarray:
    """(count, 3) uint8 BGR colours, neighbours far apart on the hue circle (golden-ratio steps)."""
    hues = (np.arange(count) * 0.618033988749895 % 1.0 * 180).astype(np.uint8)
    hsv = np.stack([hues, np.full(count, 200, np.uint8), np.full(count, 255, np.uint8)], axis=-1)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0] if count else np.zeros((0, 3), np.uint8)


def draw_instances(image: np.ndarray, instances: Instances, *, opacity: float = 0.5,
                   keypoint_min_score: float = KEYPOINT_MIN_SCORE) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 BGR with ``instances`` drawn (lowest score first,
    so the most confident lies on top)."""
    out = image.copy()
    h, w = out.shape[:2]
    colours = instance_colours(len(instances))
    thickness = max(1, round(w / 400))
    scale = max(0.4, w / 1400)
    for i in reversed(range(len(instances))):
        colour = tuple(int(v) for v in colours[i])
        if instances.masks is not None:
            mask = instances.masks[i]
            if mask.shape == (h, w) and mask.any():
                tinted = cv2.addWeighted(out, 1.0 - opacity, np.full_like(out, colour), opacity, 0.0)
                out[mask] = tinted[mask]
                contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(out, contours, -1, colour, thickness, cv2.LINE_AA)
        x1, y1, x2, y2 = (int(round(float(v))) for v in instances.boxes[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        if instances.keypoints is not None:
            _draw_skeleton(out, instances.keypoints[i], colour, thickness, keypoint_min_score)
        text = f"{instances.categories[int(instances.labels[i])]} {float(instances.scores[i]):.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(0, y1 - th - base - 2)
        left = max(0, min(x1, w - tw - 4))  # the caption stays inside the picture
        cv2.rectangle(out, (left, top), (left + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(out, text, (left + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)
    return out


def _draw_skeleton(out: np.ndarray, keypoints: np.ndarray, colour: tuple[int, ...], thickness: int,
                   min_score: float) -> None:
    """keypoints: (K, 3) x, y, score in frame pixels."""
    seen = keypoints[:, 2] > min_score
    points = [(int(round(float(x))), int(round(float(y)))) for x, y, _s in keypoints]
    for a, b in SKELETON:
        if a < len(points) and b < len(points) and seen[a] and seen[b]:
            cv2.line(out, points[a], points[b], colour, thickness + 1, cv2.LINE_AA)
    radius = thickness + 2
    for point, ok in zip(points, seen):
        if ok:
            cv2.circle(out, point, radius, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(out, point, radius, colour, thickness, cv2.LINE_AA)
