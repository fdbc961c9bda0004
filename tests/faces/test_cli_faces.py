"""`python main.py faces ...` end to end on real photos (in-process, real gallery file)."""

from __future__ import annotations

import json
import zipfile

import cv2
import numpy as np
import pytest

import main


@pytest.fixture()
def photos(tmp_path, astronaut_variants, coins, no_face_photos):
    paths = {}
    for name in ("original", "flipped", "brighter", "darker"):
        paths[name] = tmp_path / f"astronaut-{name}.png"
        cv2.imwrite(str(paths[name]), astronaut_variants[name])
    paths["coins"] = tmp_path / "coins.png"
    cv2.imwrite(str(paths["coins"]), coins)
    paths["coffee"] = tmp_path / "coffee.jpg"
    cv2.imwrite(str(paths["coffee"]), no_face_photos["coffee"])
    paths["not-an-image"] = tmp_path / "notes.png"
    paths["not-an-image"].write_text("hello")
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture()
def cli(tmp_path, capsys):
    gallery = str(tmp_path / "gallery.db")

    def run(*argv: str) -> tuple[int, str, str]:
        # These tests exercise the offline pipeline (Haar + LBP); dlib's has its own tests.
        extra = [] if "--embedder" in argv else ["--embedder", "lbp"]
        code = main.main(["faces", argv[0], *argv[1:], "--gallery", gallery, *extra])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_enrol_identify_verify_embed(cli, photos):
    code, out, err = cli("enrol", "Eileen", photos["original"], photos["brighter"])
    assert code == 0 and "enrolled Eileen: 2 shot(s) with lbp" in out
    assert "classical" in err  # the offline embedder says what it is
    code, out, _ = cli("identify", photos["flipped"], "--json")
    faces = json.loads(out)["faces"]
    assert code == 0 and [f["name"] for f in faces] == ["Eileen"]
    code, out, _ = cli("identify", photos["coins"], "--json")
    result = json.loads(out)
    assert result["classical"] is True and [f["name"] for f in result["faces"]] == ["Unknown", "Unknown"]
    code, out, _ = cli("verify", photos["original"], photos["darker"])
    assert code == 0 and out.startswith("match:")
    code, out, _ = cli("embed", photos["original"], "--json")
    vec = np.array(json.loads(out)["vector"])
    assert code == 0 and abs(np.linalg.norm(vec) - 1) < 1e-4
    code, out, _ = cli("embed", photos["original"], "--aligned")
    assert code == 0 and len(out.split()) == vec.size


def test_bad_input_gives_one_error_line_and_a_non_zero_exit(cli, photos):
    cases = [
        (("enrol", "X", photos["coins"]), "2 faces found in"),
        (("enrol", "X", photos["coffee"]), "no face found in"),
        (("enrol", "X", photos["not-an-image"]), "notes.png"),
        (("identify", "/nonexistent/photo.jpg"), "/nonexistent/photo.jpg"),
        (("remove", "Nobody"), "no person called 'Nobody'"),
        (("identify", photos["original"], "--embedder", "sface"), "models fetch sface"),
        (("list", "--embedder", "nope"), "unknown embedder 'nope'"),
        (("import", photos["coffee"]), "not a zip file"),
    ]
    for argv, message in cases:
        code, out, err = cli(*argv)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code != 0 and len(errors) == 1 and message in errors[0], (argv, err)
        assert "Traceback" not in err
    code, out, err = cli("enrol", "Eileen", photos["original"])
    code, out, err = cli("enrol", "eileen", photos["flipped"])
    assert code != 0 and "already in the gallery" in err and "--add" in err
    code, out, _ = cli("enrol", "eileen", photos["flipped"], "--add")
    assert code == 0 and "2 shot(s)" in out


def test_list_rename_remove_export_import(cli, photos, tmp_path):
    cli("enrol", "Eileen", photos["original"])
    code, out, _ = cli("rename", "Eileen", "Commander Collins")
    assert code == 0
    code, out, _ = cli("list", "--json")
    assert [p["name"] for p in json.loads(out)["people"]] == ["Commander Collins"]
    archive = tmp_path / "out.zip"
    assert cli("export", str(archive))[0] == 0
    assert "manifest.json" in zipfile.ZipFile(archive).namelist()
    assert cli("remove", "Commander Collins")[0] == 0
    assert "empty" in cli("list")[1]
    code, out, _ = cli("import", str(archive))
    assert code == 0 and "imported 1 people, 1 shots" in out
    code, _, err = cli("import", str(archive))
    assert code != 0 and "--on-conflict" in err
    assert cli("import", str(archive), "--on-conflict", "merge")[0] == 0
    assert "2 shot(s)" in cli("list")[1]
