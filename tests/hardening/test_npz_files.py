"""engine.models.npz_files: an .npz is read only after its declared shapes fit its data."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()  # magic, version and the header dict


def test_a_declared_shape_larger_than_its_data_is_refused(tmp_path):
    from engine.models.npz_files import NpzFileError, load_npz

    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("keys.npy", _npy_header((2,), "<U2") + "a\0\0\0b\0\0\0".encode() * 2)
        archive.writestr("vectors.npy", _npy_header((1_000_000_000, 4)) + bytes(64))  # claims 16 GB
    with pytest.raises(NpzFileError, match=r"liar.npz: array 'vectors' declares 16,000,000,000 bytes"):
        load_npz(path, ("keys", "vectors"), max_bytes=1 << 20, what="embedding cache")


def test_object_arrays_fifos_and_big_files_are_refused(tmp_path):
    from engine.models.npz_files import NpzFileError, load_npz

    objects = tmp_path / "objects.npz"
    np.savez(objects, keys=np.array([{"a": 1}], dtype=object))
    with pytest.raises(NpzFileError, match="Python objects"):
        load_npz(objects, ("keys",), max_bytes=1 << 20)
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(NpzFileError, match="FIFO"):
        load_npz(fifo, ("keys",), max_bytes=1 << 20)
    big = tmp_path / "big.npz"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)
    with pytest.raises(NpzFileError, match="larger than the limit"):
        load_npz(big, ("keys",), max_bytes=1 << 20)


def test_real_files_round_trip(tmp_path):
    from engine.models.npz_files import load_npz

    good = tmp_path / "good.npz"
    np.savez(good, keys=np.array(["a", "bb"]), vectors=np.arange(8, dtype=np.float32).reshape(2, 4))
    arrays = load_npz(good, ("keys", "vectors"), max_bytes=1 << 20)
    assert arrays["keys"].tolist() == ["a", "bb"] and arrays["vectors"][1, 3] == 7


def test_a_hostile_collection_is_refused_by_its_declared_size(tmp_path):
    from engine.features.inspect.top_patches import CollectionFileError, TopPatches

    liar = tmp_path / "collection.npz"
    with zipfile.ZipFile(liar, "w") as archive:
        for name in ("meta", "values", "boxes", "sources"):
            archive.writestr(f"{name}.npy", _npy_header((0,)))
        archive.writestr("patches.npy", _npy_header((512, 64, 64, 64, 3), "|u1") + bytes(10))
    with pytest.raises(CollectionFileError, match=r"collection.npz: array 'patches' declares"):
        TopPatches.load(liar)
