"""Reading ``.npz`` files (numpy's zip of ``.npy`` arrays) without trusting their sizes.

``np.load`` allocates each array from the shape its ``.npy`` header declares, and a zip
member can inflate a thousand-fold. ``load_npz`` opens the file through
``engine.core.regular_files`` (regular files of a bounded size only), checks the zip directory
(member count, declared sizes, compression ratio, total), and compares each array's
declared shape with its member's size before numpy reads it. Object arrays (pickles) are
never loaded.
"""

from __future__ import annotations

import math
import os
import zipfile

import numpy as np

from engine.core.errors import BadFormat

MAX_NPZ_MEMBERS = 64  # the app's .npz files hold a handful of arrays


class NpzFileError(BadFormat, ValueError):
    """An .npz file that is damaged, foreign or too large; the message names it."""


def load_npz(path: str | os.PathLike[str], names: tuple[str, ...], *, max_bytes: int,
             what: str = "file") -> dict[str, np.ndarray]:
    """The arrays ``names`` of the .npz ``path`` (uncompressed total at most ``max_bytes``).

    Raises NpzFileError naming the file for a FIFO or device, a file or member over the
    bound, a missing array, a shape its data cannot fill, or an object array.
    """
    from engine.core.regular_files import RegularFileError, open_regular
    from engine.models.checkpoint import CheckpointError, check_zip_directory

    try:
        handle = open_regular(path, max_bytes, what=what)
    except RegularFileError as exc:
        raise NpzFileError(str(exc)) from None
    with handle:
        try:
            archive = zipfile.ZipFile(handle)
            members = {info.filename: info for info in check_zip_directory(archive, f"{what} {path}", max_bytes, MAX_NPZ_MEMBERS)}
            arrays = {}
            for name in names:
                info = members.get(f"{name}.npy")
                if info is None:
                    raise NpzFileError(f"{what} {path}: has no array '{name}'")
                with archive.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read_header(fh)
                    if dtype.hasobject:
                        raise NpzFileError(f"{what} {path}: array '{name}' holds Python objects, which are never loaded")
                    declared = math.prod(shape) * dtype.itemsize
                    if declared > info.file_size:
                        raise NpzFileError(f"{what} {path}: array '{name}' declares {declared:,} bytes but its data holds "
                                           f"{info.file_size:,}; the file is damaged")
                    array = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
                    view = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
                    filled = 0
                    while filled < declared:
                        got = fh.readinto(view[filled:])
                        if not got:
                            raise NpzFileError(f"{what} {path}: array '{name}' does not hold the data its shape "
                                               "needs; it is damaged")
                        filled += got
                arrays[name] = array.T if fortran else array
            return arrays
        except CheckpointError as exc:
            raise NpzFileError(str(exc)) from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            if isinstance(exc, NpzFileError):
                raise
            raise NpzFileError(f"{what} {path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
