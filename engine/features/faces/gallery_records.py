"""The gallery's records and their checks: people, shots, names, vectors, chips, errors.

What the SQLite store (``gallery.py``), its archives (``gallery_io.py``) and the
recognizer share, kept apart from the storage code. Chips are uint8 BGR (H, W, 3) face
crops, stored as lossless PNG; vectors are float32 (D,).
"""

from __future__ import annotations

import errno
import sqlite3
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np

from engine.core.errors import NotFound, UserError

MAX_NAME_LENGTH = 80


class GalleryError(UserError, RuntimeError):
    """Base of the gallery's errors; messages are meant for the user."""


class GalleryLockedError(GalleryError):
    """Another program holds the database lock."""


class GalleryDamagedError(GalleryError):
    """The database is damaged and could not be restored or opened read-only."""


class GalleryReadOnlyError(GalleryError):
    """A change was asked of a gallery opened read-only (after damage)."""


class GalleryFullError(GalleryError):
    """The disk is full: the change was not saved (nothing was lost)."""


class PersonExistsError(GalleryError):
    """A name that is already in the gallery: add shots to them or merge instead."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"'{name}' is already in the gallery: add these shots to them, merge, or choose another name"
        )
        self.name = name


class PersonNotFoundError(GalleryError, NotFound):
    """No person of that name."""


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    created: float
    shots: int


@dataclass(frozen=True)
class Shot:
    """One stored face: ``chip`` is the aligned uint8 BGR thumbnail (S, S, 3)."""

    id: int
    person_id: int
    created: float
    chip: np.ndarray


def encode_chip(chip: np.ndarray) -> bytes:
    """uint8 BGR image -> PNG bytes (lossless, so re-embedding sees the same pixels)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(chip))
    if not ok:
        raise GalleryError("could not encode a face thumbnail as PNG")
    return buf.tobytes()


MAX_CHIP_SIDE = 2048  # chips are a few hundred pixels; a bigger "thumbnail" is hostile


def decode_chip(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 BGR image; GalleryError when they are not an image (or claim to
    be larger than MAX_CHIP_SIDE on a side, checked in the header before decoding)."""
    import io

    from engine.io.image_header import HeaderError, image_size

    try:
        declared = image_size(io.BytesIO(bytes(data[:1 << 16])))
    except HeaderError as exc:
        raise GalleryError(f"a face thumbnail is not a readable PNG image ({exc})") from None
    if declared is not None and max(declared[1:]) > MAX_CHIP_SIDE:
        raise GalleryError(f"a face thumbnail claims {declared[1]}x{declared[2]} pixels; "
                           f"thumbnails are at most {MAX_CHIP_SIDE} pixels a side")
    if len(data) == 0:
        raise GalleryError("a face thumbnail is empty")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        img = None
    if img is None:
        raise GalleryError("a stored face thumbnail is not a readable PNG image")
    return img


def check_name(name: str) -> str:
    """Strip and validate a person's name; ValueError says what is wrong."""
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise ValueError("a person's name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ValueError(f"a person's name can have at most {MAX_NAME_LENGTH} characters ({len(cleaned)} given)")
    return cleaned


def name_key(name: str) -> str:
    """What makes two names the same person: Unicode case folding after NFKC, so "Zoë" and
    "ZOË" collide (SQLite's NOCASE only folds ASCII letters)."""
    return unicodedata.normalize("NFKC", " ".join(str(name).split())).casefold()


def check_vector(vector: np.ndarray, embedder: str, dim: int | None = None) -> np.ndarray:
    """``vector`` as a (D,) little-endian float32 array; ValueError when it is empty, not
    finite, or not ``dim`` long (the length the gallery already stores for ``embedder``)."""
    vec = np.asarray(vector, dtype="<f4").reshape(-1)
    if vec.size == 0:
        raise ValueError(f"an empty {embedder} vector cannot be stored")
    if not np.isfinite(vec).all():
        raise ValueError(f"a {embedder} vector with NaN or infinite values cannot be stored")
    if dim is not None and vec.size != dim:
        raise ValueError(f"a {embedder} vector has {vec.size} values, but the gallery's {embedder} vectors have {dim}")
    return vec


# -- what a storage error means (typed: SQLite's result codes and errno, never message text) --
def _sqlite_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of ``exc`` (sqlite3.SQLITE_FULL, ...), None for other errors
    and for the ones this module raises itself. Extended codes keep the primary one in the low byte."""
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    return None if code is None else code & 0xFF


def is_lock_error(exc: BaseException) -> bool:
    """Another connection holds the database (SQLITE_BUSY / SQLITE_LOCKED)."""
    return _sqlite_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_full_error(exc: BaseException) -> bool:
    """The disk is full (ENOSPC, SQLITE_FULL)."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return _sqlite_code(exc) == sqlite3.SQLITE_FULL


def is_read_only_error(exc: BaseException) -> bool:
    """The file or its folder may not be written (EROFS, EACCES, EPERM, SQLITE_READONLY)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    return _sqlite_code(exc) == sqlite3.SQLITE_READONLY
