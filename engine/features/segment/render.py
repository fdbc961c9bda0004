"""Drawing a label map: the class colours and the blended overlay (OpenCV/numpy, no Qt).

Colours are the Pascal VOC palette (class id i -> the bits of i spread over the high bits
of R, G and B, so neighbouring ids differ strongly); background is black and never drawn.
Images: BGR(A) uint8; label maps (H, W) uint8 class ids at the frame's size.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np


def voc_palette(count: int = 21) -> np.ndarray:
    """(count, 3) uint8 RGB colours of the VOC palette."""
    palette = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def palette_bgr(count: int = 21) -> np.ndarray:
    return np.ascontiguousarray(voc_palette(count)[:, ::-1])


_PALETTE = palette_bgr(256)  # every uint8 class id has a colour


def blend_labels(canvas: np.ndarray, labels: np.ndarray, opacity: float, visible: Iterable[int],
                 colours: np.ndarray | None = None) -> None:
    """Tint ``canvas`` (H', W', 3 or 4) uint8 in place with the colours of the ``visible``
    class ids of ``labels`` (H, W) uint8, scaled to the canvas by nearest neighbour.
    opacity: 0 (no tint) .. 1 (solid colour)."""
    colours = _PALETTE if colours is None else colours
    h, w = canvas.shape[:2]
    if labels.shape != (h, w):
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    shown = np.zeros(len(colours), bool)
    for class_id in visible:
        if 0 <= class_id < len(colours):
            shown[class_id] = True
    mask = shown[labels]
    if opacity <= 0 or not mask.any():
        return
    pixels = canvas[..., :3]
    tinted = cv2.addWeighted(pixels, 1.0 - opacity, colours[labels], opacity, 0.0)
    pixels[mask] = tinted[mask]


def blend_heat(canvas: np.ndarray, heat: np.ndarray, opacity: float) -> None:
    """Tint ``canvas`` (H', W', 3 or 4) uint8 in place with ``heat`` (H, W) float 0..1 in the
    jet colour map (blue cold, red hot), resized to the canvas bilinearly."""
    h, w = canvas.shape[:2]
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(np.clip(heat * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    pixels = canvas[..., :3]
    pixels[...] = cv2.addWeighted(pixels, 1.0 - opacity, colours, opacity, 0.0)
