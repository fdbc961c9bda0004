"""Training pictures for a detector: letterboxing and the augmentations, boxes carried along.

Everything works on BGR uint8 pictures (H, W, 3) and boxes (N, 4) float32 x1 y1 x2 y2 in
that picture's pixels (top-left origin), and produces a square ``size`` x ``size``
network input with its boxes in input pixels:

- ``letterbox``: the picture scaled to fit (aspect kept) at the top-left of a grey (114)
  canvas, as Detect feeds the network (no augmentation; held-out pictures, prediction);
- ``random_place``: the same with a random scale (0.6..1.2 of the fitting one) and a
  random place on the canvas (translation), so objects are seen at many sizes and places;
- ``mosaic``: four pictures in a 2 x 2 collage around a random centre, then a random
  zoom (0.5..1) of the collage to the input size: many objects, cut at odd places, in one
  picture (what lets a few dozen pictures go a long way);
- ``hflip``: a left-right mirror; ``hsv_jitter``: hue, saturation and brightness changes.

``Augmenter.sample(items)`` makes one augmented training input from a list of
``(picture, boxes, class_ids)``; which augmentation happens is drawn from its own seeded
generator, so the same seed gives the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FILL = 114
#: Boxes keeping less than this share of their area after cropping are dropped (a sliver
#: of an object is not the object); so are boxes under MIN_SIDE pixels.
MIN_KEPT_AREA = 0.3
MIN_SIDE = 2.0

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]  # picture (H, W, 3) uint8, boxes (N, 4), class ids (N,)


def _warp(image: np.ndarray, scale: float, dx: float, dy: float, size: int) -> np.ndarray:
    """``image`` scaled by ``scale`` and moved by (dx, dy) onto a size x size grey canvas."""
    matrix = np.array([[scale, 0.0, dx], [0.0, scale, dy]], np.float32)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(FILL, FILL, FILL))


def _move_boxes(boxes: np.ndarray, ids: np.ndarray, scale: float, dx: float, dy: float,
                size: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes under x -> x * scale + dx, clipped to the canvas; slivers dropped (see MIN_KEPT_AREA)."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4).astype(np.float32), ids.reshape(0).astype(np.int64)
    moved = boxes.astype(np.float32) * scale + np.array([dx, dy, dx, dy], np.float32)
    clipped = moved.clip(0, size)
    area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = ((kept_area >= MIN_KEPT_AREA * np.maximum(area, 1e-6)) & (clipped[:, 2] - clipped[:, 0] >= MIN_SIDE)
            & (clipped[:, 3] - clipped[:, 1] >= MIN_SIDE))
    return clipped[keep], ids[keep].astype(np.int64)


def fit_scale(width: int, height: int, size: int) -> float:
    """The scale that fits a width x height picture into a size x size square."""
    return min(size / width, size / height)


def letterbox(image: np.ndarray, boxes: np.ndarray, ids: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(input size x size, boxes in input pixels, ids, scale): fitted at the top-left corner."""
    scale = fit_scale(image.shape[1], image.shape[0], size)
    boxes, ids = _move_boxes(boxes, ids, scale, 0.0, 0.0, size)
    return _warp(image, scale, 0.0, 0.0, size), boxes, ids, scale


def hflip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; boxes (N, 4) in that picture's pixels."""
    width = image.shape[1]
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), flipped


def hsv_jitter(image: np.ndarray, rng: np.random.Generator, hue: float = 0.015, sat: float = 0.6,
               val: float = 0.35) -> np.ndarray:
    """Random hue shift (fraction of the colour circle), saturation and brightness gains
    (1 +- sat, 1 +- val), applied through lookup tables."""
    gains = rng.uniform(-1, 1, 3) * (hue, sat, val) + (0.0, 1.0, 1.0)
    h, s, v = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x + gains[0] * 180) % 180).astype(np.uint8)
    lut_s = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(h, lut_h), cv2.LUT(s, lut_s), cv2.LUT(v, lut_v)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def random_place(sample: Sample, size: int, rng: np.random.Generator,
                 scale_range: tuple[float, float] = (0.6, 1.2)) -> Sample:
    """The picture at a random scale (times the fitting one) and a random place on the canvas."""
    image, boxes, ids = sample
    h, w = image.shape[:2]
    scale = fit_scale(w, h, size) * rng.uniform(*scale_range)
    # Anywhere from flush left/top to flush right/bottom; larger than the canvas: a random crop.
    dx = rng.uniform(min(0.0, size - w * scale), max(0.0, size - w * scale))
    dy = rng.uniform(min(0.0, size - h * scale), max(0.0, size - h * scale))
    boxes, ids = _move_boxes(boxes, ids, scale, dx, dy, size)
    return _warp(image, scale, dx, dy, size), boxes, ids


def mosaic(samples: list[Sample], size: int, rng: np.random.Generator,
           zoom_range: tuple[float, float] = (0.5, 1.0)) -> Sample:
    """Four pictures around a random centre of a 2*size canvas (each fitted to size x
    size, meeting at the centre), then a window of the collage zoomed to size x size."""
    canvas_side = 2 * size
    canvas = np.full((canvas_side, canvas_side, 3), FILL, np.uint8)
    cx, cy = rng.uniform(0.5 * size, 1.5 * size, 2)
    all_boxes, all_ids = [], []
    for k, (image, boxes, ids) in enumerate(samples[:4]):
        h, w = image.shape[:2]
        scale = fit_scale(w, h, size) * rng.uniform(0.7, 1.0)
        pw, ph = w * scale, h * scale
        # Quadrant k: the picture's inner corner at the centre.
        x0 = cx - pw if k in (0, 2) else cx
        y0 = cy - ph if k in (0, 1) else cy
        placed = _warp_to(image, scale, x0, y0, canvas_side)
        region = placed[1]
        canvas[region] = placed[0][region]
        moved, kept = _move_boxes(boxes, ids, scale, x0, y0, canvas_side)
        all_boxes.append(moved)
        all_ids.append(kept)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4), np.float32)
    ids = np.concatenate(all_ids) if all_ids else np.zeros((0,), np.int64)
    zoom = rng.uniform(*zoom_range)  # output pixels per canvas pixel
    window = size / zoom
    wx = np.clip(cx - window / 2 + rng.uniform(-0.1, 0.1) * window, 0, canvas_side - window)
    wy = np.clip(cy - window / 2 + rng.uniform(-0.1, 0.1) * window, 0, canvas_side - window)
    boxes, ids = _move_boxes(boxes, ids, zoom, -wx * zoom, -wy * zoom, size)
    return _warp(canvas, zoom, -wx * zoom, -wy * zoom, size), boxes, ids


def _warp_to(image: np.ndarray, scale: float, x0: float, y0: float, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(image scaled and placed at (x0, y0) on a side x side canvas, (side, side) bool mask
    of the pixels it covers)."""
    placed = cv2.warpAffine(image, np.array([[scale, 0, x0], [0, scale, y0]], np.float32), (side, side),
                            flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(FILL, FILL, FILL))
    mask = np.zeros((side, side), bool)
    h, w = image.shape[:2]
    x1, y1 = int(max(0, round(x0))), int(max(0, round(y0)))
    x2, y2 = int(min(side, round(x0 + w * scale))), int(min(side, round(y0 + h * scale)))
    mask[y1:y2, x1:x2] = True
    return placed, mask


@dataclass(frozen=True)
class AugmentPlan:
    """How often each augmentation happens (probabilities per training input)."""

    mosaic: float = 0.5
    flip: float = 0.5
    colour: float = 0.8


class Augmenter:
    """Makes augmented size x size training inputs, drawing from its own generator."""

    def __init__(self, size: int, seed: int = 0, plan: AugmentPlan = AugmentPlan(), enabled: bool = True) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.plan = plan
        self.enabled = enabled

    def sample(self, pool: list[Sample], index: int, use_mosaic: bool = True) -> Sample:
        """Training input number ``index`` of ``pool``: (input (size, size, 3) uint8,
        boxes (N, 4) input pixels, class ids (N,))."""
        image, boxes, ids = pool[index]
        if not self.enabled:
            return letterbox(image, boxes, ids, self.size)[:3]
        rng = self.rng
        if use_mosaic and len(pool) >= 4 and rng.random() < self.plan.mosaic:
            others = rng.choice(len(pool), 3, replace=len(pool) < 4)
            picks = [self._flipped(pool[index])] + [self._flipped(pool[int(i)]) for i in others]
            image, boxes, ids = mosaic(picks, self.size, rng)
        else:
            image, boxes, ids = random_place(self._flipped(pool[index]), self.size, rng)
        if rng.random() < self.plan.colour:
            image = hsv_jitter(image, rng)
        return image, boxes, ids

    def _flipped(self, sample: Sample) -> Sample:
        image, boxes, ids = sample
        if self.rng.random() < self.plan.flip:
            image, boxes = hflip(image, boxes)
        return image, boxes, ids
