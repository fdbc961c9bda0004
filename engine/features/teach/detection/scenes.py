"""Synthetic labelled scenes for tests, benchmarks and demos: a few object kinds a small
detector learns quickly (distinct shape and colour), at random places and sizes on a
textured background, with the exact boxes they were drawn at.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.features.teach.detection.labels import DetectionDataset, LabelledImage, write_labels

CLASSES = ("disc", "square", "triangle")
_COLOURS = ((40, 60, 220), (60, 190, 50), (220, 120, 30))  # BGR


def make_scene(rng: np.random.Generator, size: tuple[int, int] = (320, 240), max_objects: int = 4,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: (image (H, W, 3) uint8 BGR, boxes (N, 4) float32 x1 y1 x2 y2 pixels,
    class ids (N,) int64), 1..max_objects objects that overlap little; ``size`` = (W, H)."""
    w, h = size
    grey = rng.uniform(90, 170) + rng.normal(0, 8, 3)
    image = (grey * np.ones((h, w, 3))).astype(np.float32)
    image += rng.normal(0, 10, (h, w, 3))
    # Soft large-scale shading so the background is not flat.
    shade = cv2.resize(rng.normal(0, 18, (4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    image += shade[:, :, None]
    boxes: list[tuple[float, float, float, float]] = []
    ids: list[int] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            side = int(rng.integers(min(w, h) // 8, min(w, h) // 3))
            x1, y1 = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
            box = (x1, y1, x1 + side, y1 + side)
            if all(_overlap(box, other) < 0.2 for other in boxes):
                break
        else:
            continue
        cls = int(rng.integers(0, len(CLASSES)))
        colour = tuple(float(c) for c in np.clip(np.array(_COLOURS[cls]) + rng.normal(0, 15, 3), 0, 255))
        x1, y1, x2, y2 = box
        if cls == 0:
            cv2.circle(image, ((x1 + x2) // 2, (y1 + y2) // 2), side // 2, colour, -1, cv2.LINE_AA)
        elif cls == 1:
            cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), colour, -1)
        else:
            points = np.array([[(x1 + x2) // 2, y1], [x1, y2 - 1], [x2 - 1, y2 - 1]], np.int32)
            cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
        boxes.append(tuple(float(v) for v in box))
        ids.append(cls)
    return (np.clip(image, 0, 255).astype(np.uint8), np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(ids, np.int64))


def _overlap(a, b) -> float:
    """Intersection over the smaller box's area."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def write_scenes(root: str | Path, count: int = 60, seed: int = 0, size: tuple[int, int] = (320, 240)) -> Path:
    """A YOLO-layout dataset of ``count`` scenes under ``root`` (classes.txt, images/, labels/)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("".join(f"{name}\n" for name in CLASSES), encoding="utf-8")
    for i in range(count):
        image, boxes, ids = make_scene(rng, size)
        cv2.imwrite(str(root / "images" / f"scene_{i:04d}.png"), image)
        write_labels(root / "labels" / f"scene_{i:04d}.txt", boxes, ids, size[0], size[1])
    return root


def scenes_dataset(root: str | Path, count: int = 60, seed: int = 0, size: tuple[int, int] = (320, 240)) -> DetectionDataset:
    """``write_scenes`` then the dataset in memory (exact boxes, no problems)."""
    from engine.features.teach.detection.labels import read_yolo_dataset

    return read_yolo_dataset(write_scenes(root, count, seed, size))


__all__ = ["CLASSES", "LabelledImage", "make_scene", "scenes_dataset", "write_scenes"]
