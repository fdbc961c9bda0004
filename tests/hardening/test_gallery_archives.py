"""Malformed and hostile gallery exports are refused before anything is written."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_io import ArchiveError, import_zip
from engine.features.faces.gallery_records import GalleryError
from engine.features.faces.lbp import DIM as LBP_DIM
from tests.hardening.conftest import TWO_GB_KIB, child_env, run_cli
from tests.hardening.gallery_archives import members, npy_bytes, real_export, with_manifest, write_members


@pytest.fixture()
def export(tmp_path):
    return real_export(tmp_path)


def _refused(tmp_path, archive, *fragments):
    with Gallery(tmp_path / "target" / "gallery.db") as g:
        with pytest.raises(ArchiveError) as info:
            import_zip(g, archive)
        assert g.people() == [] and g.shot_count() == 0
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    return str(info.value)


def test_the_real_export_imports(tmp_path, export):
    with Gallery(tmp_path / "t" / "g.db") as g:
        assert import_zip(g, export)["people"] == 3


@pytest.mark.parametrize("dim", [LBP_DIM - 7, 3])
def test_vectors_of_another_dimension(tmp_path, export, dim):
    items = members(export)
    rows = np.load(__import__("io").BytesIO(items["embeddings/lbp.npy"])).shape[0]
    items["embeddings/lbp.npy"] = npy_bytes(np.ones((rows, dim), np.float32))
    manifest = json.loads(items["manifest.json"])
    manifest["embedders"]["lbp"]["dim"] = dim
    items["manifest.json"] = json.dumps(manifest).encode()
    _refused(tmp_path, write_members(tmp_path / "dim.zip", items), f"{dim} values", f"lbp makes {LBP_DIM}")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_vectors(tmp_path, export, bad):
    items = members(export)
    mat = np.load(__import__("io").BytesIO(items["embeddings/lbp.npy"]))
    mat[1, 17] = bad
    items["embeddings/lbp.npy"] = npy_bytes(mat)
    _refused(tmp_path, write_members(tmp_path / "nan.zip", items), "NaN or infinite")


def test_an_unknown_embedder(tmp_path, export):
    items = members(export)
    manifest = json.loads(items["manifest.json"])
    manifest["embedders"]["mystery-net"] = {"file": "embeddings/mystery.npy", "dim": 8}
    items["embeddings/mystery.npy"] = npy_bytes(np.ones((1, 8), np.float32))
    items["manifest.json"] = json.dumps(manifest).encode()
    _refused(tmp_path, write_members(tmp_path / "u.zip", items), "mystery-net", "does not know")


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(people={"Ines": []}), "no list of people"),
    (lambda m: m["people"][0].update(name=42), "'name' must be a string"),
    (lambda m: m["people"][0].pop("shots"), "'shots' must be a list"),
    (lambda m: m["people"][0].update(created="yesterday"), "'created' must be a number"),
    (lambda m: m["people"][1]["shots"][0]["embeddings"].update(lbp=1.5), "row 1.5"),
    (lambda m: m["people"][1]["shots"][0]["embeddings"].update(lbp=True), "row True"),
    (lambda m: m["people"][1]["shots"][0].update(file=["x"]), "needs a 'file' name"),
    (lambda m: m.update(version=True), "version True"),
    (lambda m: m.update(embedders=[1, 2]), "'embedders'"),
    (lambda m: m["embedders"]["lbp"].update(dim="2891"), "positive integer 'dim'"),
    (lambda m: m["people"].append(dict(m["people"][0], name="ØYVIND")), "same name"),
    (lambda m: m["people"][0].update(name="   "), "cannot be empty"),
])
def test_wrong_json_types_and_missing_fields(tmp_path, export, change, fragment):
    archive = with_manifest(export, tmp_path / "bad.zip", change)
    _refused(tmp_path, archive, fragment)


def test_deeply_nested_json(tmp_path, export):
    items = members(export)
    items["manifest.json"] = b"[" * 200_000 + b"]" * 200_000
    _refused(tmp_path, write_members(tmp_path / "deep.zip", items), "nested too deeply")


def test_a_crc_error(tmp_path, export):
    items = members(export)
    archive = write_members(tmp_path / "crc.zip", items, compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("thumbnails/000002.png")
    # The member's data starts after its local header (30 bytes + name + extra).
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 40] ^= 0xFF
    archive.write_bytes(bytes(data))
    _refused(tmp_path, archive, "thumbnails/000002.png")


def test_an_encrypted_member(tmp_path, export):
    import struct

    target = write_members(tmp_path / "locked.zip", members(export))
    data = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as zf:
        info = zf.getinfo("embeddings/lbp.npy")
    # Set the "encrypted" flag bit as a password-protecting zip tool does: local header
    # (offset 6) and central directory entry (offset 8) of that member.
    local = info.header_offset
    data[local + 6] |= 0x1
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46:central + 46 + name_len]) == b"embeddings/lbp.npy":
            data[central + 8] |= 0x1
        central = data.find(b"PK\x01\x02", central + 4)
    target.write_bytes(bytes(data))
    _refused(tmp_path, target, "encrypted")


def test_a_thumbnail_claiming_a_huge_image(tmp_path, export):
    from tests.hardening.conftest import png_claiming

    items = members(export)
    items["thumbnails/000001.png"] = png_claiming(40_001, 30_001)
    _refused(tmp_path, write_members(tmp_path / "thumb.zip", items), "40001x30001")


def test_a_vector_file_declaring_more_rows_than_it_holds(tmp_path, export):
    items = members(export)
    header = npy_bytes(np.zeros((1, LBP_DIM), np.float32))
    items["embeddings/lbp.npy"] = header.replace(b"(1, ", b"(900000000, ", 1)
    _refused(tmp_path, write_members(tmp_path / "rows.zip", items), "holds fewer")


def _bomb_zip(tmp_path, export, member: str, size: int):
    items = members(export)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in items.items():
            if name != member:
                zf.writestr(name, data)
        with zf.open(member, "w", force_zip64=True) as fh:
            block = (b" " if member.endswith(".json") else b"\0") * (1 << 20)
            for _ in range(size >> 20):
                fh.write(block)
    return path


def test_an_inflating_manifest_in_a_child(tmp_path, export):
    bomb = _bomb_zip(tmp_path, export, "manifest.json", 96 << 20)
    assert bomb.stat().st_size < 2 << 20
    env = child_env(CNN_STUDIO_HOME=str(tmp_path / "home"), CNN_STUDIO_MAX_ARCHIVE_BYTES=str(80 << 20))
    result = run_cli("faces", "import", bomb, env=env)
    result.assert_one_error("bomb.zip", "limit", "CNN_STUDIO_MAX_ARCHIVE_BYTES")
    assert result.peak_kib < TWO_GB_KIB


def test_an_inflating_vector_file(tmp_path, export, monkeypatch):
    bomb = _bomb_zip(tmp_path, export, "embeddings/lbp.npy", 40 << 20)
    monkeypatch.setenv("CNN_STUDIO_MAX_ARCHIVE_BYTES", str(30 << 20))
    _refused(tmp_path, bomb, "limit")


def test_a_foreign_sqlite_file_is_left_untouched(tmp_path):
    import sqlite3

    path = tmp_path / "recipes.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes(title TEXT, minutes INTEGER)")
    conn.execute("INSERT INTO recipes VALUES ('soup', 40)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(GalleryError, match="another program.*recipes.*untouched"):
        Gallery(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipes.db"]


def test_a_non_ascii_name_is_unique_ignoring_case(tmp_path):
    from engine.features.faces.gallery_records import PersonExistsError

    with Gallery(tmp_path / "g.db") as g:
        chip = np.zeros((40, 40, 3), np.uint8)
        g.enrol("Łucja", [(chip, np.ones(LBP_DIM, np.float32))], "lbp")
        g.enrol("Ørjan", [(chip, np.ones(LBP_DIM, np.float32))], "lbp")
        with pytest.raises(PersonExistsError):
            g.rename("Ørjan", "ŁUCJA")
        with pytest.raises(PersonExistsError):
            g.enrol("łucja", [(chip, np.ones(LBP_DIM, np.float32))], "lbp")
        assert g.get("ØRJAN").name == "Ørjan"


def test_vectors_that_disagree_with_the_gallery_are_not_stored(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        chip = np.zeros((40, 40, 3), np.uint8)
        g.enrol("Ana", [(chip, np.ones(16, np.float32))], "lbp")
        with pytest.raises(ValueError, match="16"):
            g.enrol("Bea", [(chip, np.ones(15, np.float32))], "lbp")
        with pytest.raises(ValueError, match="NaN"):
            g.enrol("Cid", [(chip, np.full(16, np.nan, np.float32))], "lbp")
        assert [p.name for p in g.people()] == ["Ana"]
