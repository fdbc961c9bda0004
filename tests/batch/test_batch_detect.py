"""`batch detect` on embedded Ray gives the rows of the sequential `detect --json`, lists
what it cannot read and goes on, and with --track/--every the tracker's ids and the frames kept."""

from __future__ import annotations

import json

import pytest

import main as app_main
from engine.batch.store import read_table
from tests.batch.rows import SIZE, assert_same_rows, batch_rows, sequential_rows


def _batch(capsys, *argv):
    code = app_main.main(["batch", "detect", *map(str, argv), "--model", "yolov4-tiny", "--size", SIZE])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # starts Ray twice: ~45 s on 2 loaded cores, most of it Ray and the workers starting
def test_rows_equal_the_sequential_cli_and_a_bad_file_is_listed(capsys, home, media, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = _batch(capsys, media, "--out", out_dir, "--workers", "2")
    assert code == 1, err  # one input failed: listed, the run went on
    assert "5 input(s) done" in out and "1 failed" in out
    failures = json.loads((out_dir / "failures.json").read_text())
    assert [f["source"] for f in failures] == [str(media / "broken.jpg")]
    assert "not an image OpenCV can decode" in failures[0]["reason"]
    assert "failed:" in err and "broken.jpg" in err

    detections, frames = read_table(out_dir, "detections"), read_table(out_dir, "frames")
    expected = {}
    for name in ["a.png", "b.jpg", "sub/c.png", "clip1.avi", "clip2.avi"]:
        expected.update(sequential_rows(capsys, media / name))
    got = batch_rows(detections, frames)
    assert sum(len(v) for v in expected.values()) > 0
    assert_same_rows(got, expected)
    # One row per frame: 3 images + 5 + 4 video frames; time is frame / fps for videos, null for images.
    assert frames.num_rows == 12
    times = {(r["source"], r["frame"]): r["time"] for r in frames.to_pylist()}
    assert times[(str(media / "clip1.avi"), 4)] == pytest.approx(0.4) and times[(str(media / "a.png"), 0)] is None
    assert sum(r["detections"] for r in frames.to_pylist()) == detections.num_rows
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert set(manifest["inputs"]) == {str(media / n) for n in ["a.png", "b.jpg", "sub/c.png", "clip1.avi", "clip2.avi"]}

    # Run again: nothing is redone or doubled; the broken file is retried and listed again.
    code, out, err = _batch(capsys, media, "--out", out_dir, "--workers", "2")
    assert code == 1 and "0 input(s) done (5 done by an earlier run), 1 failed" in out, out + err
    assert read_table(out_dir, "detections").equals(detections)


@pytest.mark.slow
def test_track_and_every(capsys, home, media, tmp_path):
    video = media / "clip1.avi"
    out_dir = tmp_path / "tracked"
    code, out, err = _batch(capsys, video, "--out", out_dir, "--workers", "1", "--track")
    assert code == 0, err
    tracked = read_table(out_dir, "detections")
    assert tracked.column_names[-1] == "track_id"
    assert_same_rows(batch_rows(tracked, read_table(out_dir, "frames")), sequential_rows(capsys, video, "--track"))
    assert any(t is not None for t in tracked.column("track_id").to_pylist())

    every = tmp_path / "every"
    code, out, err = _batch(capsys, video, "--out", every, "--workers", "1", "--every", "2")
    assert code == 0, err
    frames = read_table(every, "frames")
    assert frames.column("frame").to_pylist() == [0, 2, 4]
    full = sequential_rows(capsys, video)
    assert_same_rows(batch_rows(read_table(every, "detections"), frames), {k: v for k, v in full.items() if k[1] % 2 == 0})
    # A different --every on the same folder is another run: refused, not mixed.
    code, out, err = _batch(capsys, video, "--out", every, "--every", "3")
    assert code == 2 and "other settings (every differ)" in err
