"""Real gallery exports for the hostile-archive tests and the fuzz test."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from engine.features.faces.gallery import Gallery
from engine.features.faces.lbp import DIM as LBP_DIM


def fill(gallery: Gallery, names=("Ines", "Tomasz", "Øyvind"), seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    for n, name in enumerate(names):
        shots = []
        for _ in range(1 + n % 2):
            v = rng.normal(size=LBP_DIM).astype(np.float32)
            shots.append((rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), v / np.linalg.norm(v)))
        gallery.enrol(name, shots, "lbp")


def real_export(folder: Path) -> Path:
    from engine.features.faces.gallery_io import export_zip

    with Gallery(folder / "source" / "gallery.db") as g:
        fill(g)
        export_zip(g, folder / "export.zip")
    return folder / "export.zip"


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_members(path: Path, items: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return path


def with_manifest(src: Path, dst: Path, change) -> Path:
    items = members(src)
    manifest = json.loads(items["manifest.json"])
    change(manifest)
    items["manifest.json"] = json.dumps(manifest).encode()
    return write_members(dst, items)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
