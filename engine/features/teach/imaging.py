"""Images for the Teach backbones: the centred square crop, augmentation, batching.

All images are uint8 BGR (H, W, 3). A batch for the network is float32 (N, 3, S, S) in
RGB order with values in [0, 1]; the ImageNet normalisation happens inside the model
(``engine.features.teach.model.Classifier``), so exported models take the same batch.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from engine.features.teach.settings import AugmentSettings

INPUT_SIZE = 224


def square_crop(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The largest centred square of ``image``, resized to ``size`` x ``size`` (uint8 BGR)."""
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    square = image[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interp)


def to_batch(images: list[np.ndarray], size: int = INPUT_SIZE) -> torch.Tensor:
    """BGR images of any size -> float32 (N, 3, size, size), RGB, [0, 1]."""
    arr = np.stack([square_crop(im, size) for im in images])[..., ::-1]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).float().div_(255.0)


def augment(image: np.ndarray, settings: AugmentSettings, rng: np.random.Generator, size: int = INPUT_SIZE) -> np.ndarray:
    """One random variant of ``image``: random resized crop, mirror, colour jitter; (size, size, 3) BGR."""
    h, w = image.shape[:2]
    lo, hi = settings.crop_scale
    if lo >= 1.0:  # no crop: the whole picture, only resized
        x0, y0, cw, ch = 0, 0, w, h
    else:
        area = h * w * rng.uniform(lo, hi)
        ratio = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
        cw = int(round(min(w, np.sqrt(area * ratio))))
        ch = int(round(min(h, np.sqrt(area / ratio))))
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
    out = cv2.resize(image[y0:y0 + ch, x0:x0 + cw], (size, size), interpolation=cv2.INTER_LINEAR)
    if settings.flip and rng.random() < 0.5:
        out = out[:, ::-1]
    j = settings.jitter
    if j > 0:
        pixels = out.astype(np.float32)
        pixels *= rng.uniform(1 - j, 1 + j)  # brightness
        mean = pixels.mean()
        pixels = (pixels - mean) * rng.uniform(1 - j, 1 + j) + mean  # contrast
        hsv = cv2.cvtColor(np.clip(pixels, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 1] *= rng.uniform(1 - j, 1 + j)  # saturation
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-j, j) * 18.0) % 180.0  # hue: +-j/10 of the circle (180 = full)
        out = cv2.cvtColor(np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8), cv2.COLOR_HSV2BGR)
    return np.ascontiguousarray(out)


def preview(image: np.ndarray, settings: AugmentSettings, count: int = 8, seed: int = 0, size: int = 160) -> list[np.ndarray]:
    """``count`` augmented variants of one sample, as training would draw them (for the UI)."""
    rng = np.random.default_rng(seed)
    return [augment(image, settings, rng, size) for _ in range(count)]
