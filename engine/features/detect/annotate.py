"""Stable per-class colours and drawing of detections into images (CLI outputs, recordings).

Colours are a function of the class index only (golden-ratio hue steps), so "person" has
the same colour in every frame, in the GUI and in saved files. Colours are BGR tuples.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from engine.features.detect.types import Detections

_GOLDEN = 0.618033988749895


def class_color_rgb(class_id: int) -> tuple[int, int, int]:
    """A saturated, distinct RGB colour for a class index (same on every call)."""
    hue = (0.11 + class_id * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def class_color_bgr(class_id: int) -> tuple[int, int, int]:
    r, g, b = class_color_rgb(class_id)
    return b, g, r


def draw_detections(image_bgr: np.ndarray, detections: Detections, copy: bool = True) -> np.ndarray:
    """Boxes with "label score" captions drawn onto (a copy of) a BGR image."""
    out = image_bgr.copy() if copy else image_bgr
    h, w = out.shape[:2]
    thickness = max(1, round(max(h, w) / 400))
    font_scale = max(0.4, max(h, w) / 1400)
    for (x1, y1, x2, y2), score, cid, label in zip(detections.boxes, detections.scores,
                                                   detections.class_ids, detections.labels):
        color = class_color_bgr(int(cid))
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(out, p1, p2, color, thickness, cv2.LINE_AA)
        caption = f"{label} {score:.2f}"
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = p1[1] - th - base - 2 if p1[1] - th - base - 2 >= 0 else p1[1]
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw + 4, top + th + base + 2), color, -1)
        cv2.putText(out, caption, (p1[0] + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return out
