"""One evaluated picture drawn for review (OpenCV, uint8 BGR): truth boxes green, the
detector's shown boxes red, so a miss is a green box with no red one on it.

A missed truth box is drawn thicker than a found one (a found one is a thin green line
inside the red box that found it); a prediction's label holds its
class and score. Boxes are x1,y1,x2,y2 pixels of the stored picture (exclusive x2/y2),
scaled with the picture.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from engine.features.teach.detection.evaluate import ImageResult

TRUTH = (60, 180, 40)       # BGR green
PREDICTION = (40, 40, 230)  # BGR red


def _label(image: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (w, h), _ = cv2.getTextSize(text, font, scale, 1)
    y = max(y, h + 3)
    cv2.rectangle(image, (x, y - h - 3), (x + w + 2, y), colour, -1)
    cv2.putText(image, text, (x + 1, y - 2), font, scale, (255, 255, 255), 1, cv2.LINE_AA)


def draw_result(image: np.ndarray, result: ImageResult, classes: Sequence[str], max_side: int = 480) -> np.ndarray:
    """``image`` (H, W, 3) uint8 BGR, the picture ``result`` is about, scaled so its longer
    side is at most ``max_side`` pixels, with the truth (green; missed boxes thicker) and
    the shown predictions (red, "class score") drawn on it. Returns a new image."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    out = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    # The picture may have been read at another size than labelled (e.g. re-saved): map by the label size.
    sx, sy = out.shape[1] / max(result.width, 1), out.shape[0] / max(result.height, 1)

    def corners(box: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
        x1, y1, x2, y2 = box
        return (round(x1 * sx), round(y1 * sy)), (round(x2 * sx) - 1, round(y2 * sy) - 1)

    for box in result.pred_boxes[result.shown]:
        a, b = corners(box)
        cv2.rectangle(out, a, b, PREDICTION, 2, cv2.LINE_AA)
    # Truth over the predictions: a found box shows as a green line inside a red one.
    for box, found in zip(result.truth_boxes, result.truth_found):
        a, b = corners(box)
        cv2.rectangle(out, a, b, TRUTH, 1 if found else 3, cv2.LINE_AA)
    for box, score, cls, shown in zip(result.pred_boxes, result.pred_scores, result.pred_ids, result.shown):
        if shown:
            a, _ = corners(box)
            name = classes[cls] if 0 <= cls < len(classes) else str(int(cls))
            _label(out, f"{name} {score:.2f}", a[0], a[1], PREDICTION)
    return out
