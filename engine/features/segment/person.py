"""Person mode: the background behind people blurred, replaced by a picture, or a plain colour.

Per frame (BGR uint8 (H, W, 3)):
1. the network runs on a small copy (short side ``process_side`` px) and gives the
   person probability there, (h, w) in 0..1;
2. the mask is smoothed there (Gaussian, ``softness`` px of the small copy), so its edge
   is a soft ramp, not the staircase of the network's output;
3. it is stabilised there with ``engine.runtime.stabilise.FlowStabiliser`` (the Style
   tab's): the previous mask, warped by optical flow onto the new frame, is blended in
   where the warp can be trusted, so a still edge does not flicker and a moving one
   follows the motion; 4. it is upsampled bilinearly to the frame (the alpha);
5. out = alpha * frame + (1 - alpha) * background, with ``cv2.blendLinear``.

The blurred background is computed on a quarter-size copy and upsampled (a wide blur at
a fraction of the cost). A background picture is read once per path (``read_image``: a
file that cannot be read raises ``BackgroundImageError``) and scaled to cover the frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from engine.core.errors import BadFormat
from engine.runtime.stabilise import FlowStabiliser

log = logging.getLogger(__name__)

BACKGROUNDS = ("blur", "image", "colour")


class BackgroundImageError(BadFormat, ValueError):
    """The background picture could not be read (the message names the file)."""


@dataclass(frozen=True)
class Background:
    """How the background is replaced. kind: "blur", "image" or "colour". blur: the blur's
    sigma in frame pixels. image: path of the picture (kind "image"). colour: BGR 0..255."""

    kind: str = "blur"
    blur: float = 12.0
    image: str | None = None
    colour: tuple[int, int, int] = (0, 177, 64)

    def __post_init__(self) -> None:
        if self.kind not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, not {self.kind!r}")
        if self.kind == "image" and not self.image:
            raise ValueError("a background picture needs its file (Background(kind='image', image=PATH))")
        if not 0.5 <= self.blur <= 100:
            raise ValueError(f"blur must be between 0.5 and 100 px, not {self.blur}")
        if len(self.colour) != 3 or not all(0 <= int(c) <= 255 for c in self.colour):
            raise ValueError(f"colour must be three 0..255 values (B, G, R), not {self.colour!r}")


def read_background(path: str) -> np.ndarray:
    """The picture at ``path`` as BGR uint8; BackgroundImageError when it cannot be read."""
    from engine.core.errors import UserError
    from engine.io.images import read_image

    try:
        return read_image(path)
    except UserError as exc:
        raise BackgroundImageError(f"background picture {exc.what}",
                                   exc.todo or "pick a PNG or JPEG picture for the background") from None


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to cover (width, height), aspect kept, centred and cut to it."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


def blurred(frame: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur of ``frame`` (sigma in frame px), computed at a quarter of the size."""
    h, w = frame.shape[:2]
    factor = 4 if min(h, w) >= 64 else 1
    small = cv2.resize(frame, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.3, sigma / factor))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class PersonCompositor:
    """Stateful (the stabiliser remembers the last mask): ``mask`` then ``compose`` per frame;
    ``reset()`` on a scene change."""

    def __init__(self, stabilise_weight: float = 0.6) -> None:
        # The mask is a smooth field: the flow check alone (no texture) decides where to trust.
        self.stabiliser = FlowStabiliser(weight=stabilise_weight, content_tol=30.0, flow_side=320)
        self._background_path: str | None = None
        self._background: np.ndarray | None = None
        self._covered: np.ndarray | None = None

    def reset(self) -> None:
        self.stabiliser.reset()

    def mask(self, probability: np.ndarray, small_frame: np.ndarray, *, softness: float = 1.5,
             stabilise: bool = True) -> np.ndarray:
        """(h, w) float32 person probability at the small size -> the smoothed, stabilised
        mask, (h, w) uint8 0..255, at that size. small_frame: the small copy (h, w, 3)."""
        m = np.clip(probability * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if softness > 0:
            m = cv2.GaussianBlur(m, (0, 0), softness)
        if stabilise:
            m3 = self.stabiliser.apply(small_frame, cv2.merge([m, m, m]))
            m = np.ascontiguousarray(m3[:, :, 0])
        else:
            self.stabiliser.reset()
        return m

    def background_for(self, frame: np.ndarray, background: Background) -> np.ndarray:
        h, w = frame.shape[:2]
        if background.kind == "blur":
            return blurred(frame, background.blur)
        if background.kind == "colour":
            out = np.empty_like(frame)
            out[...] = np.array(background.colour, np.uint8)
            return out
        if background.image != self._background_path or self._background is None:
            self._background = read_background(background.image)
            self._background_path, self._covered = background.image, None
        if self._covered is None or self._covered.shape[:2] != (h, w):
            self._covered = cover(self._background, w, h)
        return self._covered

    def compose(self, frame: np.ndarray, mask_small: np.ndarray, background: Background) -> np.ndarray:
        """The frame (H, W, 3) uint8 with its background replaced; ``mask_small`` from ``mask``."""
        h, w = frame.shape[:2]
        alpha = cv2.resize(mask_small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) * (1.0 / 255.0)
        back = self.background_for(frame, background)
        return cv2.blendLinear(frame, back, alpha, 1.0 - alpha)
