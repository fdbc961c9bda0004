"""Export -> import round-trips exactly; broken archives are refused before anything is written."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_io import ArchiveError, export_zip, import_zip
from engine.features.faces.gallery_records import PersonExistsError
from engine.features.faces.lbp import DIM as LBP_DIM

SFACE_DIM = 128  # imports are checked against each embedder's real vector length


def _fill(g: Gallery) -> None:
    rng = np.random.default_rng(5)
    for name, n in (("Ann", 2), ("Bob", 3), ("Émile Zoë", 1)):
        shots = []
        for _ in range(n):
            v = rng.normal(size=LBP_DIM).astype(np.float32)
            shots.append((rng.integers(0, 256, (160, 160, 3), dtype=np.uint8), v / np.linalg.norm(v)))
        g.enrol(name, shots, "lbp")
    # A second embedder's vectors for some shots.
    ids = [int(r[0]) for r in g._read("SELECT id FROM shots ORDER BY id")][:4]
    g.add_embeddings("sface", {i: rng.normal(size=SFACE_DIM).astype(np.float32) for i in ids})


def _contents(path):
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        manifest.pop("exported")
        arrays = {n: np.load(io.BytesIO(zf.read(n)), allow_pickle=False) for n in zf.namelist() if n.endswith(".npy")}
        pngs = {n: zf.read(n) for n in zf.namelist() if n.endswith(".png")}
    return manifest, arrays, pngs


def test_export_import_round_trips_exactly(tmp_path):
    with Gallery(tmp_path / "a" / "g.db") as a:
        _fill(a)
        summary = export_zip(a, tmp_path / "one.zip")
        original_people = [(p.name, p.created, p.shots) for p in a.people()]
        original_vectors = {e: a.vectors(e)[2] for e in a.embedders()}
    assert summary == {"people": 3, "shots": 6, "embedders": ["lbp", "sface"]}
    with Gallery(tmp_path / "b" / "g.db") as b:
        assert import_zip(b, tmp_path / "one.zip")["people"] == 3
        assert [(p.name, p.created, p.shots) for p in b.people()] == original_people
        for e, vecs in original_vectors.items():
            assert np.array_equal(b.vectors(e)[2], vecs)
        export_zip(b, tmp_path / "two.zip")
    m1, a1, p1 = _contents(tmp_path / "one.zip")
    m2, a2, p2 = _contents(tmp_path / "two.zip")
    assert m1 == m2 and p1 == p2
    assert a1.keys() == a2.keys() and all(np.array_equal(a1[k], a2[k]) and a1[k].dtype == np.float32 for k in a1)


def test_import_conflicts(tmp_path):
    with Gallery(tmp_path / "a.db") as a:
        _fill(a)
        export_zip(a, tmp_path / "x.zip")
        with pytest.raises(PersonExistsError):
            import_zip(a, tmp_path / "x.zip")
        assert a.shot_count() == 6
        assert import_zip(a, tmp_path / "x.zip", on_conflict="skip")["skipped"] == ["Ann", "Bob", "Émile Zoë"]
        summary = import_zip(a, tmp_path / "x.zip", on_conflict="merge")
        assert summary["shots"] == 6 and a.shot_count() == 12


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = change(item, zin.read(item))
            if data is not None:
                zout.writestr(item, data)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda n, d: None if n.endswith("000002.png") else d, "thumbnail thumbnails/000002.png of 'Ann' is missing"),
        (lambda n, d: b"garbage" if n == "manifest.json" else d, "not valid JSON"),
        (lambda n, d: b"\x00not an image" if n.endswith("000001.png") else d, "not a readable PNG"),
        (lambda n, d: _pickled() if n.endswith("lbp.npy") else d, "not a plain .npy"),
    ],
)
def test_broken_archives_are_refused_and_nothing_is_written(tmp_path, change, message):
    with Gallery(tmp_path / "a.db") as a:
        _fill(a)
        export_zip(a, tmp_path / "good.zip")
    _rewrite(tmp_path / "good.zip", tmp_path / "bad.zip", change)
    with Gallery(tmp_path / "b.db") as b:
        with pytest.raises(ArchiveError, match=message):
            import_zip(b, tmp_path / "bad.zip")
        assert b.people() == []


def test_a_non_zip_is_refused(tmp_path):
    (tmp_path / "x.zip").write_text("hello")
    with Gallery(tmp_path / "b.db") as b, pytest.raises(ArchiveError, match="not a zip file"):
        import_zip(b, tmp_path / "x.zip")


def _pickled() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()
