"""Image dimensions from a file's header, without decoding any pixel.

A 69-byte PNG can claim 60000x60000 pixels and a 3 MB one can really hold 32000x32000:
decoding either allocates gigabytes. Readers call ``image_size`` first and compare the
claimed size with ``engine.core.limits`` before OpenCV sees the data.

Supported: PNG, JPEG (SOF markers, skipping EXIF and other segments), GIF, BMP, WebP
(VP8, VP8L, VP8X), TIFF (first IFD), PNM (P1-P6) and OpenEXR is not. Unknown formats
return None and the caller falls back on OpenCV's own pixel limit.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class HeaderError(ValueError):
    """The header is truncated or inconsistent; the file is damaged."""


def image_format(head: bytes) -> str | None:
    """'png', 'jpeg', 'gif', 'bmp', 'webp', 'tiff', 'pnm' or None, from the first bytes."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"123456":
        return "pnm"
    return None


def image_size(fh: BinaryIO) -> tuple[str, int, int] | None:
    """(format, width, height) declared by the image in the open binary file ``fh``, or
    None for a format this module does not know. Reads a few hundred bytes (JPEG: walks
    the segment list). Raises HeaderError for a truncated or impossible header."""
    fh.seek(0)
    head = fh.read(64)
    kind = image_format(head)
    if kind is None:
        return None
    try:
        width, height = _READERS[kind](fh, head)
    except struct.error as exc:
        raise HeaderError(f"the {kind.upper()} header is truncated") from exc
    if width <= 0 or height <= 0:
        raise HeaderError(f"the {kind.upper()} header declares an empty image ({width}x{height})")
    return kind, width, height


def _png(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    if head[12:16] != b"IHDR":
        raise HeaderError("the PNG has no IHDR chunk")
    return struct.unpack(">II", head[16:24])


def _gif(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    return struct.unpack("<HH", head[6:10])


def _bmp(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    header_size = struct.unpack("<I", head[14:18])[0]
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", head[18:22])
    width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)  # negative height: top-down rows


def _webp(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        bits = struct.unpack("<I", head[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    raise HeaderError("unknown WebP chunk")


def _tiff(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    order = "<" if head[:2] == b"II" else ">"
    offset = struct.unpack(order + "I", head[4:8])[0]
    fh.seek(offset)
    count = struct.unpack(order + "H", fh.read(2))[0]
    width = height = 0
    for _ in range(min(count, 512)):
        tag, typ, _n = struct.unpack(order + "HHI", fh.read(8))
        raw = fh.read(4)
        value = struct.unpack(order + ("H" if typ == 3 else "I"), raw[:2] if typ == 3 else raw)[0]
        if tag == 256:
            width = value
        elif tag == 257:
            height = value
        if width and height:
            break
    return width, height


def _pnm(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    fh.seek(2)
    data = fh.read(4096)
    tokens: list[int] = []
    pos = 0
    while len(tokens) < 2 and pos < len(data):
        ch = data[pos:pos + 1]
        if ch == b"#":
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
        elif ch.isspace():
            pos += 1
        else:
            end = pos
            while end < len(data) and data[end:end + 1].isdigit():
                end += 1
            if end == pos:
                raise HeaderError("the PNM header is malformed")
            tokens.append(int(data[pos:end]))
            pos = end
    if len(tokens) < 2:
        raise HeaderError("the PNM header is truncated")
    return tokens[0], tokens[1]


def _jpeg(fh: BinaryIO, head: bytes) -> tuple[int, int]:
    fh.seek(2)
    for _ in range(10_000):  # a JPEG has a few dozen segments; this bounds a malicious loop
        byte = fh.read(1)
        while byte and byte != b"\xff":  # tolerate garbage between segments, as decoders do
            byte = fh.read(1)
        while byte == b"\xff":
            byte = fh.read(1)
        if not byte:
            break
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker == 0xD9:
            break
        length = struct.unpack(">H", fh.read(2))[0]
        if length < 2:
            raise HeaderError("a JPEG segment has an impossible length")
        if marker in _JPEG_SOF:
            _precision, height, width = struct.unpack(">BHH", fh.read(5))
            return width, height
        fh.seek(length - 2, 1)
    raise HeaderError("the JPEG has no frame header (SOF)")


_READERS = {"png": _png, "jpeg": _jpeg, "gif": _gif, "bmp": _bmp, "webp": _webp, "tiff": _tiff, "pnm": _pnm}
