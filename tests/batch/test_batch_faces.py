"""`batch faces` on embedded Ray gives, per frame, the faces of the sequential `faces
identify --json` (dlib's MMOD detector and ResNet embedder, the packaged models) on real
photos and a video written here; the gallery is read once by the driver, read-only, and a
missing or damaged one is one error line before anything starts."""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3

import cv2
import numpy as np
import pytest
import skimage.data

import main as app_main
from engine.batch.store import read_table


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def faces_media(tmp_path_factory):
    """Photos of Eileen Collins (the astronaut), one of another person, one without a face,
    a 4-frame video of Eileen at 10 fps and a broken .png; ``enrol``: the photo enrolled."""
    root = tmp_path_factory.mktemp("batch-faces")
    eileen = _bgr(skimage.data.astronaut())[40:240, 120:320]  # 200 x 200, a ~96 px face
    camera = cv2.cvtColor(skimage.data.camera()[40:300, 80:340], cv2.COLOR_GRAY2BGR)  # a ~80 px face
    paths = {"enrol": root / "enrol.png", "flipped": root / "photos" / "flipped.png",
             "brighter": root / "photos" / "brighter.jpg", "other": root / "photos" / "other.png",
             "empty": root / "photos" / "coffee.png", "video": root / "photos" / "clip.avi",
             "broken": root / "photos" / "broken.png"}
    paths["flipped"].parent.mkdir()
    cv2.imwrite(str(paths["enrol"]), eileen)
    cv2.imwrite(str(paths["flipped"]), np.ascontiguousarray(eileen[:, ::-1]))
    cv2.imwrite(str(paths["brighter"]), cv2.convertScaleAbs(eileen, alpha=1.0, beta=40))
    cv2.imwrite(str(paths["other"]), camera)
    cv2.imwrite(str(paths["empty"]), _bgr(skimage.data.coffee())[::2, ::2])
    writer = cv2.VideoWriter(str(paths["video"]), cv2.VideoWriter_fourcc(*"MJPG"), 10, (200, 200))
    for i in range(4):
        writer.write(_shift(eileen, 3 * i, -2 * i))
    writer.release()
    paths["broken"].write_bytes(b"\x89PNG\r\n\x1a\n but nothing more")
    return paths


@pytest.fixture(scope="module")
def gallery_file(faces_media, tmp_path_factory):
    """A gallery with Eileen enrolled from one photo by `faces enrol` (dlib-resnet)."""
    path = tmp_path_factory.mktemp("gallery") / "gallery.db"
    assert app_main.main(["faces", "enrol", "Eileen", str(faces_media["enrol"]), "--gallery", str(path)]) == 0
    return path


def _identify(capsys, image, gallery) -> list:
    """[(box, identity, distance, closest)] of one photo from `faces identify --json`, the reference."""
    code = app_main.main(["faces", "identify", str(image), "--gallery", str(gallery), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return [(f["box"], None if f["name"] == "Unknown" else f["name"], f["distance"], f["closest"])
            for f in json.loads(out)["faces"]]


def _scores(detector, image) -> list:
    """The detector's confidences of one photo, as `faces detect --json` gives them (the
    same detector, built once here: `faces detect` would build it for every photo)."""
    from engine.io.images import read_image

    return [round(float(f.score), 6) for f in detector.detect(read_image(str(image)))]


def _video_frames(video, folder) -> list:
    """The frames of ``video`` as the engine decodes them, written as lossless PNG photos."""
    from engine.io import iter_frames

    folder.mkdir(exist_ok=True)
    paths = []
    for frame in iter_frames(str(video)):
        paths.append(folder / f"frame{frame.index}.png")
        cv2.imwrite(str(paths[-1]), frame.image)
    return paths


def _batch_rows(out_dir) -> tuple[dict, dict]:
    """(source, frame) -> [(box, identity, distance, closest)] rounded as `faces identify --json`
    rounds, and (source, frame) -> [score]."""
    frames, faces = read_table(out_dir, "frames"), read_table(out_dir, "faces")
    rows = {(r["source"], r["frame"]): [] for r in frames.to_pylist()}
    scores = {key: [] for key in rows}
    assert len(rows) == frames.num_rows, "a frame row appears twice"
    for r in faces.to_pylist():
        box = [round(r[k], 1) for k in ("x1", "y1", "x2", "y2")]
        distance = None if r["distance"] is None else round(r["distance"], 4)
        rows[(r["source"], r["frame"])].append((box, r["identity"], distance, r["closest"]))
        scores[(r["source"], r["frame"])].append(r["score"])
    assert sum(r["faces"] for r in frames.to_pylist()) == faces.num_rows
    return rows, scores


def _close(got: dict, expected: dict) -> bool:
    """Equal rows, but for the last digit of a rounded distance (a worker sums with one
    thread, the CLI with two: a distance may round the other way)."""
    assert got.keys() == expected.keys()
    for key, rows in expected.items():
        assert len(got[key]) == len(rows), key
        for (box, name, distance, closest), other in zip(rows, got[key]):
            assert (box, name, closest) == (other[0], other[1], other[3]), key
            assert (distance is None) == (other[2] is None) and (distance is None or abs(distance - other[2]) <= 1e-4), key
    return True


def _batch(capsys, *argv):
    code = app_main.main(["batch", "faces", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # starts Ray once
def test_rows_equal_faces_identify_and_resume(capsys, faces_media, gallery_file, tmp_path):
    capsys.readouterr()
    before = gallery_file.read_bytes(), sorted(p.name for p in gallery_file.parent.iterdir())
    out_dir = tmp_path / "out"
    photos = faces_media["flipped"].parent
    code, out, err = _batch(capsys, photos, "--gallery", gallery_file, "--out", out_dir, "--workers", "2")
    assert code == 1 and "5 input(s) done" in out and "1 failed" in out and "broken.png" in err, out + err
    failures = json.loads((out_dir / "failures.json").read_text())
    assert [f["source"] for f in failures] == [str(faces_media["broken"])]
    assert (gallery_file.read_bytes(), sorted(p.name for p in gallery_file.parent.iterdir())) == before  # only read

    from engine.features.faces.detectors import make_detector

    expected, expected_scores, detector = {}, {}, make_detector("dlib-mmod")
    for name in ("flipped", "brighter", "other", "empty"):
        key = (str(faces_media[name]), 0)
        expected[key] = _identify(capsys, faces_media[name], gallery_file)
        expected_scores[key] = _scores(detector, faces_media[name])
    for i, frame in enumerate(_video_frames(faces_media["video"], tmp_path / "frames")):
        key = (str(faces_media["video"]), i)
        expected[key] = _identify(capsys, frame, gallery_file)
        expected_scores[key] = _scores(detector, frame)
    got, scores = _batch_rows(out_dir)
    assert _close(got, expected)
    assert {k: pytest.approx(v, abs=1e-5) for k, v in expected_scores.items()} == scores
    named = [row[1] for rows in got.values() for row in rows]
    assert "Eileen" in named and None in named  # a match and a stranger: the comparison means something
    assert got[(str(faces_media["empty"]), 0)] == []
    frames = read_table(out_dir, "frames").to_pylist()
    times = sorted(f["time"] for f in frames if f["source"] == str(faces_media["video"]))
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3])

    # Again: nothing is redone (Ray is not even started); a gallery changed since is
    # another run, refused before Ray.
    good = [faces_media[name] for name in ("flipped", "brighter", "other", "empty", "video")]
    code, out, err = _batch(capsys, *good, "--gallery", gallery_file, "--out", out_dir, "--workers", "2")
    assert code == 0 and "0 input(s) done (5 done by an earlier run), 0 failed" in out, out + err
    assert _batch_rows(out_dir)[0] == got
    edited = tmp_path / "edited.db"
    shutil.copy(gallery_file, edited)
    assert app_main.main(["faces", "rename", "Eileen", "Collins", "--gallery", str(edited)]) == 0
    code, out, err = _batch(capsys, photos, "--gallery", edited, "--out", out_dir)
    assert code == 2 and "other settings (gallery, gallery_stamp differ)" in err, err


def _files(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_missing_or_damaged_gallery_is_one_error_before_anything_starts(capsys, faces_media, gallery_file, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    good = gallery_file.read_bytes()
    (bad / "text.db").write_text("names and faces, not a database")
    (bad / "truncated.db").write_bytes(good[:len(good) // 2])
    damaged = bytearray(good)
    damaged[2 * 4096:3 * 4096] = bytes(range(256)) * 16  # a page of the tables overwritten
    (bad / "damaged.db").write_bytes(bytes(damaged))
    other = sqlite3.connect(bad / "other.db")
    other.execute("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL)")
    other.commit()
    other.close()
    before = _files(bad)
    cases = [(tmp_path / "nowhere" / "gallery.db", "does not exist"), (bad, "is a folder"),
             (bad / "text.db", "not an SQLite database"), (bad / "truncated.db", "is damaged"),
             (bad / "damaged.db", "is damaged"), (bad / "other.db", "not a CNN Studio face gallery")]
    for gallery, message in cases:
        out_dir = tmp_path / "out"
        code, out, err = _batch(capsys, faces_media["flipped"], "--gallery", gallery, "--out", out_dir)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and message in errors[0] and str(gallery) in errors[0], (gallery, err)
        assert "Traceback" not in err and not out_dir.exists()  # refused before the output folder and Ray
    assert _files(bad) == before  # nothing repaired, restored, moved aside or added

    code, out, err = _batch(capsys, faces_media["flipped"], "--threshold", "0.5", "--out", tmp_path / "o")
    assert code == 2 and "--threshold only applies with --gallery" in err and not (tmp_path / "o").exists()


def test_workers_match_against_the_shipped_rows_never_the_file(capsys, faces_media, gallery_file, tmp_path):
    from engine.batch.faces import FacesJob

    copy = tmp_path / "gallery.db"
    shutil.copy(gallery_file, copy)
    job = FacesJob.create(gallery=str(copy))
    assert job.snapshot.people == 1 and job.snapshot.vectors.shape == (1, 128) and job.threshold == 0.6
    shipped = pickle.loads(pickle.dumps(job))  # as Ray ships it
    copy.unlink()
    tables = shipped.start("cpu").process(str(faces_media["brighter"]))
    faces = tables["faces"].to_pylist()
    expected = _identify(capsys, faces_media["brighter"], gallery_file)
    assert [([round(f[k], 1) for k in ("x1", "y1", "x2", "y2")], f["identity"], round(f["distance"], 4), f["closest"])
            for f in faces] == expected
    assert expected[0][1] == "Eileen" and tables["frames"].to_pylist()[0]["faces"] == 1

    # Without a gallery: the same faces, unnamed; --every 2 keeps frames 0 and 2 of the video.
    video = str(faces_media["video"])
    named = shipped.start("cpu").process(video)["faces"].to_pylist()
    plain = FacesJob.create(every=2)
    assert plain.snapshot is None and plain.threshold is None
    tables = pickle.loads(pickle.dumps(plain)).start("cpu").process(video)
    assert tables["frames"].column("frame").to_pylist() == [0, 2]
    unnamed = [{**f, "identity": None, "distance": None, "closest": None} for f in named if f["frame"] % 2 == 0]
    assert tables["faces"].to_pylist() == unnamed and len(unnamed) == 2 and named[0]["identity"] == "Eileen"


def test_shots_of_another_embedder_are_embedded_in_memory_as_identify_would(capsys, monkeypatch, faces_media, tmp_path):
    """A gallery enrolled with LBP: its thumbnails are embedded with dlib-resnet for the run,
    as `faces identify` does before it stores the vectors, and the file is left as it was."""
    from engine.batch.faces import FacesJob

    monkeypatch.setattr("cli.faces._NOTICES", {})  # LBP's once-a-process notice stays for the faces tests

    lbp = tmp_path / "lbp" / "gallery.db"
    assert app_main.main(["faces", "enrol", "Eileen", str(faces_media["enrol"]), "--gallery", str(lbp), "--embedder", "lbp"]) == 0
    capsys.readouterr()
    before = _files(lbp.parent)
    job = FacesJob.create(gallery=str(lbp))
    assert job.embedder == "dlib-resnet" and job.snapshot.computed == 1 and _files(lbp.parent) == before
    assert FacesJob.create(gallery=str(lbp)).describe() == job.describe()  # the same run: resumable
    faces = job.start("cpu").process(str(faces_media["flipped"]))["faces"].to_pylist()
    expected = _identify(capsys, faces_media["flipped"], lbp)  # stores the dlib-resnet vector it computes
    assert [([round(f[k], 1) for k in ("x1", "y1", "x2", "y2")], f["identity"], round(f["distance"], 4), f["closest"])
            for f in faces] == expected
    assert expected[0][1] == "Eileen"


def test_an_empty_gallery_is_a_note_not_an_error(capsys, tmp_path):
    import argparse

    from cli.batch import _faces_job
    from engine.features.faces.gallery import Gallery

    Gallery(tmp_path / "empty.db").close()
    args = argparse.Namespace(gallery=str(tmp_path / "empty.db"), threshold=None, every=1, embedder=None, detector=None,
                              upsample=0)
    job = _faces_job(args)
    err = capsys.readouterr().err
    assert job.snapshot.people == 0 and job.threshold == 0.6
    assert err.startswith("note: ") and "no dlib-resnet faces, so no face gets a name" in err
