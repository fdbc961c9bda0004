"""Darknet .weights files: a small header, then every convolution's parameters as float32.

Layout (little-endian):
    int32 major, int32 minor, int32 revision,
    seen: int64 when major * 10 + minor >= 2, else int32   (images seen in training)
    then for each [convolutional] in cfg order:
        biases (filters)                      -- the BN beta when batch_normalize=1
        scales, rolling mean, rolling var     -- only when batch_normalize=1
        weights (filters, in_channels / groups, size, size)

The file carries no shapes, so a file written for another cfg would load as garbage;
we insist on the exact byte count instead and report expected vs actual.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.core.errors import BadFormat
from engine.features.detect.backends.darknet.model import DarknetModel

log = logging.getLogger(__name__)


class DarknetWeightsError(BadFormat, ValueError):
    """A .weights file does not fit its cfg or cannot be read; the message says which and why."""


@dataclass(frozen=True)
class WeightsHeader:
    major: int
    minor: int
    revision: int
    seen: int

    @property
    def seen_is_int64(self) -> bool:
        return self.major * 10 + self.minor >= 2

    @property
    def nbytes(self) -> int:
        return 12 + (8 if self.seen_is_int64 else 4)

    def pack(self) -> bytes:
        head = struct.pack("<iii", self.major, self.minor, self.revision)
        return head + struct.pack("<q" if self.seen_is_int64 else "<i", self.seen)


DEFAULT_HEADER = WeightsHeader(major=0, minor=2, revision=5, seen=0)


def read_header(data: bytes, source: str = "<weights>") -> WeightsHeader:
    if len(data) < 12:
        raise DarknetWeightsError(f"{source} is not a Darknet .weights file: {len(data)} bytes is shorter than the header")
    major, minor, revision = struct.unpack_from("<iii", data, 0)
    if major > 1000 or minor > 1000:
        raise DarknetWeightsError(
            f"{source}: header version {major}.{minor} marks transposed weights, which are not supported")
    wide = major * 10 + minor >= 2
    need = 12 + (8 if wide else 4)
    if len(data) < need:
        raise DarknetWeightsError(f"{source} is not a Darknet .weights file: {len(data)} bytes is shorter than the header")
    seen = struct.unpack_from("<q" if wide else "<i", data, 12)[0]
    return WeightsHeader(major, minor, revision, seen)


def expected_floats(model: DarknetModel) -> int:
    """How many float32 values a .weights file for this cfg holds after the header."""
    return sum(t.numel() for block in model.conv_blocks() for t in block.darknet_tensors())


def _open_checked(path: Path):
    """``path`` opened through engine.core.regular_files (a FIFO or a device is refused at once)."""
    from engine.core.regular_files import MissingFileError, RegularFileError, open_regular

    try:
        return open_regular(path, None, what="weights file")
    except MissingFileError:
        raise DarknetWeightsError(f"weights file not found: {path}") from None
    except RegularFileError as exc:
        raise DarknetWeightsError(exc.what, exc.todo) from None


def _size_problem(path: Path, cfg_source: str, header: WeightsHeader, count: int, actual: int) -> str | None:
    expected = header.nbytes + 4 * count
    if actual == expected:
        return None
    relation = "too short" if actual < expected else "too long"
    return (f"weights file {path} is {relation} for cfg {cfg_source}: expected {expected:,} bytes "
            f"({header.nbytes}-byte header + {count:,} float32 values), got {actual:,} bytes. "
            "Use the .weights file that was trained with this cfg.")


def check_weights_size(cfg, path: str | Path) -> WeightsHeader:
    """Check that ``path`` has exactly the size ``cfg`` (a DarknetCfg) needs, reading only
    its header and building the model on the meta device (no tensor memory); run it
    before building the real model so a wrong file costs nothing."""
    path = Path(path)
    try:
        with _open_checked(path) as fh:
            head = fh.read(20)
            actual = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise DarknetWeightsError(f"cannot read weights file {path}: {exc.strerror or exc}") from None
    header = read_header(head, str(path))
    with torch.device("meta"):
        count = expected_floats(DarknetModel(cfg))
    problem = _size_problem(path, cfg.source, header, count, actual)
    if problem:
        raise DarknetWeightsError(problem)
    return header


def load_darknet_weights(model: DarknetModel, path: str | Path) -> WeightsHeader:
    """Fill ``model`` (not yet fused) from a .weights file.

    Raises DarknetWeightsError when the file is missing, not a regular file, unreadable,
    or not exactly the size the cfg needs (the message gives both byte counts; the size
    is compared before the file is read, so a huge file or a device costs nothing).
    """
    path = Path(path)
    count = expected_floats(model)
    try:
        with _open_checked(path) as fh:
            head = fh.read(20)
            header = read_header(head, str(path))
            problem = _size_problem(path, model.cfg.source, header, count, os.fstat(fh.fileno()).st_size)
            if problem:
                raise DarknetWeightsError(problem)
            fh.seek(0)
            data = fh.read(header.nbytes + 4 * count + 1)  # one more byte notices a file that grew
    except FileNotFoundError:
        raise DarknetWeightsError(f"weights file not found: {path}") from None
    except OSError as exc:
        raise DarknetWeightsError(f"cannot read weights file {path}: {exc.strerror or exc}") from None
    problem = _size_problem(path, model.cfg.source, header, count, len(data))
    if problem:  # the file changed between the two looks
        raise DarknetWeightsError(problem)
    values = np.frombuffer(data, dtype="<f4", offset=header.nbytes)
    offset = 0
    with torch.no_grad():
        for block in model.conv_blocks():
            for tensor in block.darknet_tensors():
                n = tensor.numel()
                chunk = torch.from_numpy(values[offset:offset + n].copy()).reshape(tensor.shape)
                tensor.copy_(chunk)
                offset += n
    if not np.isfinite(values).all():
        log.warning("%s contains NaN or infinite values; detections will be meaningless", path)
    log.info("loaded %s (version %d.%d.%d, seen %d images)", path, header.major, header.minor,
             header.revision, header.seen)
    return header


def write_darknet_weights(model: DarknetModel, path: str | Path, header: WeightsHeader = DEFAULT_HEADER) -> int:
    """Write the (unfused) model's parameters as a .weights file; returns the byte count."""
    path = Path(path)
    parts = [np.frombuffer(header.pack(), dtype=np.uint8)]
    for block in model.conv_blocks():
        for tensor in block.darknet_tensors():
            parts.append(tensor.detach().to("cpu", torch.float32).numpy().astype("<f4").ravel().view(np.uint8))
    blob = np.concatenate(parts)
    from engine.core.safe_files import atomic_write_bytes

    atomic_write_bytes(path, blob.tobytes())
    return int(blob.nbytes)
