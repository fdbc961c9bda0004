"""Settings written into (and read back from) the PNGs the style tools save.

A PNG text chunk with key ``cnn-studio.style`` holds JSON: {"method": "gatys"|"adain"|
"fast"|"palette", "settings": {...}, "content": name, "styles": [[name, weight], ...],
"losses": {...}}. Other tools show it as a comment and keep the image viewable everywhere.

Reading trusts nothing in the file: the text chunk is found by walking the PNG's chunk
list (no pixel is decoded, so a header claiming 30000x30000 costs nothing), its size is
bounded (``MAX_SETTINGS_TEXT``), and ``read_record`` checks every value (type, finite,
range) before anyone applies one, so a caller applies all of a record or nothing.
"""

from __future__ import annotations

import json
import logging
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import BadFormat
from engine.core.safe_files import json_text

log = logging.getLogger(__name__)

PNG_KEY = "cnn-studio.style"
#: Largest settings text read (bytes, after decompression); a real one is about 1 KB.
MAX_SETTINGS_TEXT = 64 * 1024
#: Most chunks walked looking for the text; PIL writes it before the first IDAT.
MAX_PNG_CHUNKS = 100_000
#: The methods a record may name, as the style tools write them.
METHODS = ("gatys", "adain", "fast", "palette")
#: Long side of the result in pixels: the bounds GatysSettings enforces, for every method.
MIN_SIZE, MAX_SIZE = 16, 8192
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class MetadataError(BadFormat, ValueError):
    """The file holds no readable style settings; the message names it."""


def save_png(path: str | Path, image: np.ndarray, info: dict[str, Any]) -> Path:
    """Write BGR uint8 ``image`` as PNG with ``info`` (JSON-able) in a text chunk."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    p = Path(path)
    if p.suffix.lower() != ".png":
        p = p.with_suffix(".png")
    meta = PngInfo()
    meta.add_text(PNG_KEY, json_text(info, sort_keys=True))  # valid JSON even with a NaN loss
    meta.add_text("Software", "CNN Studio")
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(p, pnginfo=meta)
    return p


def read_info(path: str | Path) -> dict[str, Any]:
    """The info dict saved by ``save_png``, parsed but not checked (see ``read_record``).

    MetadataError, naming the file, when it is missing, not a regular file, not a PNG,
    holds no settings, or its settings text is too large, not JSON or nested too deeply.
    """
    from engine.core.safe_files import input_file_problem

    p = Path(path)
    problem = input_file_problem(p)
    if problem:
        raise MetadataError(problem)
    try:
        text = _png_text(p, PNG_KEY)
    except OSError as exc:
        raise MetadataError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if not text:
        raise MetadataError(f"{p}: has no CNN Studio style settings (only PNGs saved by the Style tab or `stylize` carry them)")
    try:
        info = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise MetadataError(f"{p}: the style settings are damaged (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, bad UTF-8
        raise MetadataError(f"{p}: the style settings are damaged ({exc})") from None
    if not isinstance(info, dict) or "settings" not in info:
        raise MetadataError(f"{p}: the style settings are incomplete")
    return info


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _png_text(path: Path, key: str) -> str | None:
    """The text of the first tEXt/zTXt/iTXt chunk named ``key``, or None.

    Skips every other chunk with a seek; MetadataError for a file that is not a PNG or a
    settings text over MAX_SETTINGS_TEXT.
    """
    with open(path, "rb") as fh:
        if fh.read(8) != _PNG_SIGNATURE:
            raise MetadataError(f"{path}: not a PNG image (style settings are kept in PNGs)")
        wanted = key.encode("latin-1")
        for _ in range(MAX_PNG_CHUNKS):
            head = fh.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IEND":
                return None
            if kind not in (b"tEXt", b"zTXt", b"iTXt"):
                fh.seek(length + 4, 1)  # the data and its CRC
                continue
            keyword = fh.read(min(length, len(wanted) + 1))
            if keyword != wanted + b"\0":
                fh.seek(length - len(keyword) + 4, 1)
                continue
            if length - len(keyword) > MAX_SETTINGS_TEXT:
                raise MetadataError(f"{path}: the style settings are larger than {MAX_SETTINGS_TEXT // 1024} KB")
            body = fh.read(length - len(keyword))
            if len(body) < length - len(keyword):
                raise MetadataError(f"{path}: the file is truncated (it ends inside the style settings)")
            return _chunk_text(path, kind, body)
    return None


def _chunk_text(path: Path, kind: bytes, rest: bytes) -> str:
    """The text of a tEXt/zTXt/iTXt chunk after its keyword (PNG 1.2 section 11.3.4)."""
    if kind == b"tEXt":
        return rest.decode("latin-1")
    if kind == b"zTXt":
        return _inflate(path, rest[1:]).decode("latin-1")
    if len(rest) < 2:
        raise MetadataError(f"{path}: the style settings chunk is truncated")
    compressed, body = rest[0], rest[2:]
    _language, _, body = body.partition(b"\0")
    _translated, _, body = body.partition(b"\0")
    raw = _inflate(path, body) if compressed else body
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: the style settings are damaged ({exc})") from None


def _inflate(path: Path, data: bytes) -> bytes:
    """zlib-decompress at most MAX_SETTINGS_TEXT bytes (a small chunk can inflate to gigabytes)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_SETTINGS_TEXT + 1)
    except zlib.error as exc:
        raise MetadataError(f"{path}: the style settings are damaged ({exc})") from None
    if len(out) > MAX_SETTINGS_TEXT:
        raise MetadataError(f"{path}: the style settings are larger than {MAX_SETTINGS_TEXT // 1024} KB")
    return out


@dataclass(frozen=True)
class StyleRecord:
    """Checked settings of a saved result: everything a caller applies, or nothing.

    method: one of METHODS. gatys: the Gatys settings (method "gatys", else None).
    size: long side of the result in pixels. alpha: AdaIN/fast style amount in [0, 1]
    (None for gatys/palette). preserve_color: AdaIN/fast kept the content's colours.
    """

    method: str
    size: int
    gatys: Any = None  # engine.features.style.gatys.GatysSettings (imported lazily: it loads torch)
    alpha: float | None = None
    preserve_color: bool = False


def read_record(path: str | Path) -> StyleRecord:
    """The checked settings saved in the PNG at ``path``.

    MetadataError whose message names the file and what is wrong (the first bad value).
    """
    p = Path(path)
    info = read_info(p)
    try:
        return check_info(info)
    except ValueError as exc:
        raise MetadataError(f"{p}: {exc}") from None


def check_info(info: dict[str, Any]) -> StyleRecord:
    """``info`` (as ``read_info`` returns it) checked value by value; ValueError says what is wrong."""
    method = info.get("method", "gatys")
    if method not in METHODS:
        shown = repr(method)[:40]
        raise ValueError(f"unknown method {shown} (use {', '.join(METHODS)})")
    raw = info.get("settings")
    if not isinstance(raw, dict):
        raise ValueError(f"the settings are a {type(raw).__name__}, not a mapping of names to values")
    if method == "gatys":
        from engine.features.style.gatys import GatysSettings

        settings = GatysSettings.from_dict(raw)
        return StyleRecord(method, settings.size, gatys=settings)
    size = _number(raw, "size", int, MIN_SIZE, MAX_SIZE, default=512)
    if method == "palette":
        return StyleRecord(method, size)
    alpha = _number(raw, "alpha", float, 0.0, 1.0, default=1.0)
    preserve = raw.get("preserve_color", False)
    if not isinstance(preserve, bool):
        raise ValueError(f"setting preserve_color={repr(preserve)[:40]} is not true or false")
    return StyleRecord(method, size, alpha=alpha, preserve_color=preserve)


def _number(raw: dict[str, Any], key: str, kind: type, low: float, high: float, default: float) -> Any:
    value = raw.get(key, default)
    integral = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float) and not integral):
        raise ValueError(f"setting {key}={repr(value)[:40]} is not {'an integer' if kind is int else 'a number'}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"setting {key}={value!r} is outside {low:g} to {high:g}")
    return kind(value)
