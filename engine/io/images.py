"""Reading still images under the pixel limits: any file OpenCV decodes -> uint8 BGR (H, W, 3).

Grayscale, alpha and 16-bit images are converted; JPEGs over the limit are decoded
downscaled; a missing, corrupt or oversized file raises ``SourceError`` naming it.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from engine.core.errors import SourceError

log = logging.getLogger(__name__)


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"})


def to_bgr8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert any image OpenCV can return (gray, BGRA, 16-bit, float) to (H, W, 3) uint8 BGR."""
    if image is None or image.size == 0:
        raise SourceError(f"{name}: the image is empty")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        scale = 255.0 if float(np.nanmax(image)) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image) * scale, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise SourceError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        # Composite onto white so transparent logos and stickers stay visible.
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = (image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise SourceError(f"{name}: unsupported image shape {image.shape}")
    return np.ascontiguousarray(image)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 BGR.

    Grayscale, alpha and 16-bit images are converted. Raises SourceError naming the file
    when it is missing, not a regular file (a FIFO or a device would block or never
    end), larger than the input limit, not an image, or damaged.

    Memory stays bounded (``engine.core.limits``): the dimensions are read from the header
    before decoding. A JPEG with more than ``max_image_pixels`` is decoded downscaled by
    2, 4 or 8 (libjpeg scales while decoding, so the full image never exists in memory),
    up to ``max_decode_pixels``; other formats over the limit are refused with a message
    that gives the limit and how to raise it.
    """
    from engine.core import limits
    from engine.core.regular_files import RegularFileError, open_regular
    from engine.io.image_header import HeaderError, image_size

    p = Path(path)
    limit = limits.current()
    try:
        # One open of a regular file (a FIFO or a device is refused without blocking),
        # its size bounded before anything is read; header and data come from it.
        with open_regular(p, limit.max_input_bytes, what="image", hint=limit.hint("max_input_bytes")) as fh:
            declared = image_size(fh)
            fh.seek(0)
            data = np.frombuffer(fh.read(limit.max_input_bytes + 1), dtype=np.uint8)
    except RegularFileError as exc:
        raise SourceError(exc.what, exc.todo) from None
    except HeaderError as exc:
        raise SourceError(f"{p}: damaged image ({exc})") from exc
    except OSError as exc:
        raise SourceError(f"{p}: cannot be read ({exc.strerror or exc})") from exc
    if data.size == 0:
        raise SourceError(f"{p}: the file is empty")
    flags = cv2.IMREAD_UNCHANGED
    if declared is not None:
        flags = _decode_flags(p, *declared, limit)
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as exc:
        raise SourceError(f"{p}: not an image OpenCV can decode ({str(exc).strip().splitlines()[-1]})") from exc
    if image is None:
        raise SourceError(f"{p}: not an image OpenCV can decode (damaged, or an unsupported format)")
    if image.ndim == 3 and image.shape[2] == 4 and p.suffix.lower() in {".jpg", ".jpeg"}:
        image = image[:, :, :3]
    if image.shape[0] * image.shape[1] > limit.max_image_pixels:
        # A format whose header we do not parse: OpenCV's own pixel limit bounded the decode.
        scale = math.sqrt(limit.max_image_pixels / (image.shape[0] * image.shape[1]))
        size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
        log.warning("%s: %dx%d pixels, downscaled to %dx%d (limit %s)", p, image.shape[1], image.shape[0], *size,
                    limits.megapixels(limit.max_image_pixels))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return to_bgr8(image, str(p))


_REDUCED_FLAGS = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))


def _decode_flags(p: Path, kind: str, width: int, height: int, limit) -> int:
    """cv2.imdecode flags that keep the decoded image within ``limit``; SourceError when
    no such decode exists."""
    from engine.core import limits

    pixels = width * height
    if pixels <= limit.max_image_pixels:
        return cv2.IMREAD_UNCHANGED
    # Exact counts: rounded megapixels made "24 MP is more than the limit of 24 MP".
    claimed = f"{p}: {width}x{height} = {pixels:,} pixels"
    if kind == "jpeg" and pixels <= limit.max_decode_pixels:
        for factor, flag in _REDUCED_FLAGS:
            if math.ceil(width / factor) * math.ceil(height / factor) <= limit.max_image_pixels:
                log.warning("%s is read downscaled by %d (the image limit is %s)", claimed, factor,
                            limits.megapixels(limit.max_image_pixels))
                return flag
    if kind == "jpeg":
        raise SourceError(f"{claimed} is more than the largest photo that can be read, {limit.max_decode_pixels:,} "
                          f"pixels ({limits.megapixels(limit.max_decode_pixels)}; {limit.hint('max_decode_pixels')})")
    raise SourceError(f"{claimed} is more than the image limit of {limit.max_image_pixels:,} pixels "
                      f"({limits.megapixels(limit.max_image_pixels)}; {limit.hint('max_image_pixels')}, "
                      "or save it as JPEG, which is read downscaled)")


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    root = Path(folder)
    return sorted((p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name)
