"""Image plumbing for style transfer: tensors, sizes, colour preservation, input checks.

Engine images are (H, W, 3) uint8 BGR. Networks here take (1, 3, H, W) float32 RGB in
[0, 1]. "Long side" is max(H, W) in pixels. Chroma means the Cr and Cb channels of
OpenCV's YCrCb conversion, luminance its Y channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.core.errors import SourceError, UserError
from engine.io.images import read_image, to_bgr8

log = logging.getLogger(__name__)

# Inputs bigger than this are shrunk on load: nothing here works at more than 4096 px, and
# a 100-megapixel scan would otherwise cost gigabytes before the first step.
MAX_INPUT_SIDE = 4096
# A style image upscaled by more than this factor has visibly blurred brush strokes.
STYLE_UPSCALE_WARNING = 2.0


class StyleInputError(UserError, ValueError):
    """A content or style input cannot be used; the message names it and says what to do."""


@dataclass
class LoadedImage:
    """An input image with the notices produced while loading it (to show the user)."""

    image: np.ndarray
    name: str
    notices: list[str] = field(default_factory=list)


def bgr_to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 BGR -> (1, 3, H, W) float32 RGB in [0, 1] on ``device``."""
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    tensor = torch.from_numpy(rgb).to(device).permute(2, 0, 1).unsqueeze(0)
    return tensor.float().div_(255.0).contiguous()


def tensor_to_bgr(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) float RGB in [0, 1] -> (H, W, 3) uint8 BGR (clamped, rounded)."""
    t = tensor.detach()
    if t.dim() == 4:
        t = t[0]
    rgb = t.clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(rgb[:, :, ::-1])


def size_for_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so max(height, width) == long_side, aspect kept, each >= 1."""
    scale = long_side / float(max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize with INTER_AREA when shrinking (no aliasing) and bicubic when enlarging."""
    if image.shape[0] == height and image.shape[1] == width:
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interp)


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so the long side is ``long_side`` pixels."""
    h, w = size_for_long_side(image.shape[0], image.shape[1], long_side)
    return resize_to(image, h, w)


# ------------------------------------------------------------------------ colour


def luminance(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 Y channel of ``image`` (BGR)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)[:, :, 0]


def chroma(image: np.ndarray) -> np.ndarray:
    """(H, W, 2) uint8 Cr, Cb channels of ``image`` (BGR)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)[:, :, 1:]


def gray_as_bgr(image: np.ndarray) -> np.ndarray:
    """The luminance of ``image`` repeated into three channels (BGR uint8)."""
    y = luminance(image)
    return np.ascontiguousarray(np.repeat(y[:, :, None], 3, axis=2))


def match_luminance(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Gray BGR image of ``source``'s luminance shifted/scaled to ``reference``'s mean and std.

    Used for luminance-only transfer (Gatys et al. 2016, "Preserving color"): the style's
    luminance histogram is brought to the content's before matching Grams.
    """
    y = luminance(source).astype(np.float32)
    ref = luminance(reference).astype(np.float32)
    scaled = (y - y.mean()) / (y.std() + 1e-6) * ref.std() + ref.mean()
    gray = np.clip(scaled, 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def combine_luminance(stylised: np.ndarray, content: np.ndarray) -> np.ndarray:
    """``stylised``'s luminance with ``content``'s chroma (both BGR; content resized to fit)."""
    content = resize_to(content, stylised.shape[0], stylised.shape[1])
    ycc = cv2.cvtColor(content, cv2.COLOR_BGR2YCrCb)
    ycc[:, :, 0] = luminance(stylised)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)


def match_colors(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Recolour ``source`` so its RGB mean and covariance equal ``reference``'s.

    A linear map x -> A (x - mu_s) + mu_r with A = C_r^1/2 C_s^-1/2 (symmetric square
    roots), the "colour histogram matching" of Gatys et al. 2016. BGR uint8 in and out.
    """
    src = source.reshape(-1, 3).astype(np.float64)
    ref = reference.reshape(-1, 3).astype(np.float64)
    mu_s, mu_r = src.mean(0), ref.mean(0)
    cov_s = np.cov(src - mu_s, rowvar=False) + np.eye(3) * 1e-3
    cov_r = np.cov(ref - mu_r, rowvar=False) + np.eye(3) * 1e-3

    def sqrtm(m: np.ndarray, inverse: bool = False) -> np.ndarray:
        vals, vecs = np.linalg.eigh(m)
        vals = np.clip(vals, 1e-8, None)
        return (vecs * (vals ** (-0.5 if inverse else 0.5))) @ vecs.T

    transform = sqrtm(cov_r) @ sqrtm(cov_s, inverse=True)
    out = (src - mu_s) @ transform.T + mu_r
    return np.clip(out, 0, 255).round().astype(np.uint8).reshape(source.shape)


def reinhard_transfer(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Colour-only transfer (Reinhard et al. 2001): content with the style's Lab mean and std.

    Not neural style transfer: no texture or brush strokes move, only the palette. Offered
    as a clearly labelled fallback when no network weights are installed.
    """
    c = cv2.cvtColor(content, cv2.COLOR_BGR2LAB).astype(np.float32)
    s = cv2.cvtColor(style, cv2.COLOR_BGR2LAB).astype(np.float32)
    c_mean, c_std = c.reshape(-1, 3).mean(0), c.reshape(-1, 3).std(0) + 1e-6
    s_mean, s_std = s.reshape(-1, 3).mean(0), s.reshape(-1, 3).std(0)
    out = (c - c_mean) / c_std * s_std + s_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


# ------------------------------------------------------------------------ input checks


def _describe_mode(path: Path) -> str | None:
    """A notice about a grayscale / alpha / 16-bit file, read from its header only."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            mode = im.mode
    except Exception:  # PIL does not know every format OpenCV reads; no notice then
        return None
    if mode in ("L", "1", "I", "I;16", "I;16B", "F"):
        return f"{path.name}: grayscale image converted to colour"
    if mode in ("LA", "RGBA", "PA") or (mode == "P"):
        return f"{path.name}: transparency flattened onto white" if mode != "P" else None
    return None


def load_input_image(path: str | Path, role: str = "content", max_side: int = MAX_INPUT_SIDE) -> LoadedImage:
    """Read a content or style image for stylisation.

    Returns BGR uint8 plus notices: grayscale/alpha/16-bit converted, huge images
    downscaled to ``max_side`` on the long side. Raises StyleInputError naming the file
    for missing, unreadable or non-image files.
    """
    p = Path(path)
    try:
        image = read_image(p)
    except SourceError as exc:
        raise StyleInputError(f"{role} image {exc} — choose a JPEG, PNG, BMP, TIFF or WebP picture") from None
    loaded = LoadedImage(image, p.name)
    mode_notice = _describe_mode(p)
    if mode_notice:
        loaded.notices.append(mode_notice)
    return _limit_size(loaded, max_side)


def image_input(image: np.ndarray, name: str, max_side: int = MAX_INPUT_SIDE) -> LoadedImage:
    """Wrap an in-memory image (camera frame, dropped pixmap) the same way ``load_input_image`` does."""
    try:
        bgr = to_bgr8(image, name)
    except SourceError as exc:
        raise StyleInputError(exc.what, exc.todo) from None
    return _limit_size(LoadedImage(bgr, name), max_side)


def _limit_size(loaded: LoadedImage, max_side: int) -> LoadedImage:
    h, w = loaded.image.shape[:2]
    if max(h, w) > max_side:
        loaded.image = resize_long_side(loaded.image, max_side)
        nh, nw = loaded.image.shape[:2]
        loaded.notices.append(f"{loaded.name}: {w}x{h} is very large; downscaled to {nw}x{nh}")
    if min(h, w) < 16:
        raise StyleInputError(f"{loaded.name}: {w}x{h} is too small to stylise (need at least 16 px on each side)")
    return loaded


def style_size_notice(style: LoadedImage, wanted_long_side: int) -> str | None:
    """A warning when the style image must be enlarged a lot to reach ``wanted_long_side``."""
    have = max(style.image.shape[:2])
    if wanted_long_side > have * STYLE_UPSCALE_WARNING:
        return (f"style {style.name} is {have} px on its long side but {wanted_long_side} px are needed; "
                f"it is enlarged {wanted_long_side / have:.1f}x, so its strokes will look blurred — "
                "use a larger style image or a smaller style scale")
    return None


@dataclass(frozen=True)
class StyleImage:
    """One style image, (H, W, 3) uint8 BGR, with its blend weight (any positive number)
    and a display name; photo mode and the live feed blend styles the same way."""

    image: np.ndarray
    weight: float = 1.0
    name: str = "style"
