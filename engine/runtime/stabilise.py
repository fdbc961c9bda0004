"""Temporal stabilisation of a video feed: a stylised feed, a segmentation mask (after Ruder et al. 2016, without re-optimising).

Feed-forward stylisation flickers: a camera's noise and small motions change the strokes
from frame to frame. ``FlowStabiliser`` blends each new stylised frame with the previous
*output*, warped onto the new frame by dense optical flow (OpenCV's DIS), except where the
warp cannot be trusted:

    out_t = m * (w * warp(out_{t-1}) + (1 - w) * styl_t) + (1 - m) * styl_t

m (per pixel, 0..1) is 1 where the content is explained by the warp and falls to 0 where
it is not: occlusions and disocclusions (forward-backward flow disagree by more than
``consistency_px``) and pixels whose warped content differs from the current content by
more than ``content_tol`` grey levels (lighting changes, scene cuts). The flow check only
counts where the picture has texture (Sobel magnitude ~``texture_level``): in flat areas
flow is ill-posed, and any warp of a flat area looks the same. w is ``weight``.
Where the flow is below ``still_px`` the previous output is reused without resampling, so
a static scene is not blurred by repeated bilinear interpolation.

Images: BGR uint8 (H, W, 3); flow is computed on a grey copy at most ``flow_side`` px on
its long side (for speed) and scaled back. ``flicker`` is the measure of the issue: the
mean absolute change (grey levels, 0..255) between consecutive frames.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)


def flicker(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute difference between consecutive frames (0..255; lower = steadier)."""
    if len(frames) < 2:
        return 0.0
    diffs = [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in zip(frames[:-1], frames[1:])]
    return float(np.mean(diffs))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


class FlowStabiliser:
    """Stateful: call ``apply(content, stylised)`` per frame, ``reset()`` on a cut or a new style."""

    def __init__(self, weight: float = 0.8, consistency_px: float = 1.5, content_tol: float = 24.0,
                 still_px: float = 0.25, flow_side: int = 320, texture_level: float = 40.0) -> None:
        self.weight = weight
        self.consistency_px = consistency_px
        self.content_tol = content_tol
        self.still_px = still_px
        self.flow_side = flow_side
        self.texture_level = texture_level
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev_gray: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None

    def reset(self) -> None:
        self._prev_gray = None
        self._prev_out = None

    def _small_gray(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.flow_side / max(gray.shape[:2]))
        if scale < 1.0:
            gray = cv2.resize(gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        return gray, scale

    def apply(self, content: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        """The stabilised frame (BGR uint8, the size of ``stylised``; ``content`` of the same size)."""
        gray, scale = self._small_gray(content)
        prev_gray, prev_out = self._prev_gray, self._prev_out
        if prev_gray is None or prev_out is None or prev_gray.shape != gray.shape or prev_out.shape != stylised.shape:
            self._prev_gray, self._prev_out = gray, stylised
            return stylised
        # backward flow: for each pixel of the new frame, where it was in the previous one
        back = self._dis.calc(gray, prev_gray, None)
        fwd = self._dis.calc(prev_gray, gray, None)
        h, w = gray.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        map_x, map_y = gx + back[..., 0], gy + back[..., 1]
        # forward-backward check: following back then fwd must return to the start
        fwd_at = cv2.remap(fwd, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = np.hypot(back[..., 0] + fwd_at[..., 0], back[..., 1] + fwd_at[..., 1])
        warped_gray = cv2.remap(prev_gray, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        content_err = np.abs(warped_gray.astype(np.float32) - gray.astype(np.float32))
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        # In flat areas the flow is ill-posed and the two directions disagree, but any warp
        # of a flat area looks the same: there the content check alone decides.
        gx_, gy_ = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
        textured = np.clip(cv2.blur(np.hypot(gx_, gy_), (5, 5)) / self.texture_level, 0.0, 1.0)
        consistent = np.clip(1.0 - error / self.consistency_px, 0.0, 1.0)
        consistent = 1.0 - textured * (1.0 - consistent)
        trust = consistent * np.clip(1.0 - content_err / self.content_tol, 0.0, 1.0)
        trust *= inside
        still = np.hypot(back[..., 0], back[..., 1]) < self.still_px

        H, W = stylised.shape[:2]
        if (H, W) != (h, w):
            factor = 1.0 / scale
            back_full = cv2.resize(back, (W, H), interpolation=cv2.INTER_LINEAR) * factor
            trust = cv2.resize(trust, (W, H), interpolation=cv2.INTER_LINEAR)
            still = cv2.resize(still.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST).astype(bool)
            fx, fy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
            mx, my = fx + back_full[..., 0], fy + back_full[..., 1]
        else:
            mx, my = map_x, map_y
        warped = cv2.remap(prev_out, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped[still] = prev_out[still]  # no resampling where nothing moved: no accumulated blur
        m = (trust * self.weight)[..., None]
        out = (m * warped.astype(np.float32) + (1.0 - m) * stylised.astype(np.float32))
        out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        self._prev_gray, self._prev_out = gray, out
        return out
