"""Synthetic labelled images for tests, benchmarks and demos: three classes that a network
(even an untrained one) can tell apart by colour and texture, with random position, size,
background and noise so no two samples are alike.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLASSES = ("stripes", "checks", "blobs")


def make_image(label: int, rng: np.random.Generator, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """One uint8 BGR image (height size[1], width size[0]) of class ``label`` (0, 1 or 2)."""
    w, h = size
    # A greyish background (slightly tinted), so the class is the pattern and its colour.
    grey = rng.uniform(70, 190) + rng.normal(0, 10, 3)
    image = grey.astype(np.float32) * np.ones((h, w, 3), np.float32)
    image += rng.normal(0, 12, (h, w, 3))
    period = int(rng.integers(8, 20))
    yy, xx = np.mgrid[0:h, 0:w]
    if label == 0:  # warm stripes
        mask = ((yy + int(rng.integers(0, period))) // (period // 2)) % 2 == 0
        colour = (40, 60, 220)
    elif label == 1:  # green checks
        mask = ((xx // period) + (yy // period)) % 2 == 0
        colour = (60, 200, 50)
    else:  # blue blobs
        mask = np.zeros((h, w), bool)
        for _ in range(int(rng.integers(6, 12))):
            cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(10, 30))
            mask |= (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        colour = (220, 90, 30)
    # The pattern fills most of the picture, at a random place, so any centred crop shows it.
    x0, y0 = int(rng.integers(0, w // 8 + 1)), int(rng.integers(0, h // 8 + 1))
    region = np.zeros((h, w), bool)
    region[y0:y0 + int(h * rng.uniform(0.8, 0.95)), x0:x0 + int(w * rng.uniform(0.8, 0.95))] = True
    jitter = rng.normal(0, 20, 3)
    image[mask & region] = np.clip(np.array(colour) + jitter, 0, 255)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_image_folder(root: str | Path, per_class: int = 30, seed: int = 0, size: tuple[int, int] = (160, 120)) -> Path:
    """An ImageFolder ``root/<class>/<n>.png`` of ``per_class`` images per class."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(folder / f"{i:03d}.png"), make_image(label, rng, size))
    return root
