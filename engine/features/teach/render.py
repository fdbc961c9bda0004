"""Pictures for the Teach tab, drawn with OpenCV (uint8 BGR): the confusion matrix, class colours."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np


def class_colour(index: int) -> tuple[int, int, int]:
    """A distinct BGR colour per class index (golden-angle hues)."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.75, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def confusion_image(confusion: np.ndarray, labels: list[str], cell: int = 44) -> np.ndarray:
    """The confusion matrix (rows: true class, columns: predicted) as a BGR picture with counts.

    Cells are shaded by the share of their row (white = 0, dark blue = all of the class);
    the diagonal holds the correct answers.
    """
    n = len(labels)
    margin = 8 + 7 * (2 + min(12, max((len(s) for s in labels), default=1)))
    top = 24
    h, w = top + n * cell + 4, margin + n * cell + 4
    image = np.full((h, w, 3), 255, np.uint8)
    rows = confusion.sum(1, keepdims=True).clip(min=1)
    share = confusion / rows
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(n):
        cv2.putText(image, f"{i + 1} {labels[i][:12]}", (4, top + i * cell + cell // 2 + 5), font, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
        cv2.putText(image, str(i + 1), (margin + i * cell + cell // 2 - 5, top - 8), font, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
        for j in range(n):
            v = float(share[i, j])
            colour = (int(255 - 120 * v), int(255 - 200 * v), int(255 - 235 * v))
            x0, y0 = margin + j * cell, top + i * cell
            cv2.rectangle(image, (x0, y0), (x0 + cell - 2, y0 + cell - 2), colour, -1)
            text = str(int(confusion[i, j]))
            tone = (255, 255, 255) if v > 0.5 else (30, 30, 30)
            cv2.putText(image, text, (x0 + cell // 2 - 5 * len(text), y0 + cell // 2 + 5), font, 0.5, tone, 1, cv2.LINE_AA)
    return image
