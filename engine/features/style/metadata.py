"""Settings written into (and read back from) the PNGs the style tools save.

A PNG text chunk with key ``cnn-studio.style`` holds JSON: {"method": "gatys"|"adain",
"settings": {...}, "content": name, "styles": [[name, weight], ...], "losses": {...}}.
Other tools show it as a comment and keep the image viewable everywhere.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PNG_KEY = "cnn-studio.style"


class MetadataError(ValueError):
    """The file holds no readable style settings; the message names it."""


def save_png(path: str | Path, image: np.ndarray, info: dict[str, Any]) -> Path:
    """Write BGR uint8 ``image`` as PNG with ``info`` (JSON-able) in a text chunk."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    p = Path(path)
    if p.suffix.lower() != ".png":
        p = p.with_suffix(".png")
    meta = PngInfo()
    meta.add_text(PNG_KEY, json.dumps(info, sort_keys=True))
    meta.add_text("Software", "CNN Studio")
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(p, pnginfo=meta)
    return p


def read_info(path: str | Path) -> dict[str, Any]:
    """The info dict saved by ``save_png``; MetadataError when absent or unreadable."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            text = getattr(im, "text", {}).get(PNG_KEY) if hasattr(im, "text") else None
    except FileNotFoundError:
        raise MetadataError(f"{p}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise MetadataError(f"{p}: not an image ({exc})") from None
    if not text:
        raise MetadataError(f"{p}: has no CNN Studio style settings (only PNGs saved by the Style tab or `stylize` carry them)")
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{p}: the style settings are damaged ({exc})") from None
    if not isinstance(info, dict) or "settings" not in info:
        raise MetadataError(f"{p}: the style settings are incomplete")
    return info
