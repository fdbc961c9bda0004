"""`main.py segment` in a subprocess, as a user runs it, on real files: a photo, a folder and a
video written with OpenCV; the label map PNG and the JSON counts equal the engine's; the
background replaced; bad input (wrong weights, an unreadable background picture, an empty
video) as one `error:` line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.features.segment.catalog import VOC_CLASSES
from engine.models.catalog import catalog
from tests.segment.conftest import LRASPP
from tests.segment.weights import photo_bgr

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv) -> subprocess.CompletedProcess:
    """The command in this process (main.main, as main.py runs it): no second torch import."""
    import main as app_main

    code = app_main.main([*map(str, argv)])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


def main_py(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CNN_STUDIO_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "coffee.jpg"
    cv2.imwrite(str(path), cv2.resize(photo_bgr("coffee"), (240, 160)))
    return path


def test_an_image_gives_the_engines_label_map_counts_and_picture(tmp_path, photo, lraspp_file):
    labels_png, out = tmp_path / "labels.png", tmp_path / "tinted.png"
    run = main_py("segment", photo, "--model", LRASPP, "--weights", lraspp_file, "--json", "--mask-out", labels_png,
                  "-o", out, home=tmp_path / "home")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    labels = cv2.imread(str(labels_png), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.shape == (160, 240)
    from engine.features.segment.model import Segmenter
    image = cv2.imread(str(photo))
    expected = Segmenter.from_file(catalog().get(LRASPP), lraspp_file).segment(image)
    assert np.array_equal(labels, expected.labels)
    assert record["pixels"] == expected.counts() and record["model"] == LRASPP
    assert (record["width"], record["height"]) == (240, 160) and sum(record["pixels"].values()) == 240 * 160
    assert set(record["pixels"]) <= set(VOC_CLASSES) and len(record["pixels"]) >= 3
    tinted = cv2.imread(str(out))
    assert tinted.shape == image.shape and (tinted[labels > 0] != image[labels > 0]).any()


def test_a_folder_and_a_video_with_the_background_replaced(capsys, tmp_path, photo, lraspp_file):
    # a folder of two photos: one label map each, per-image lines
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), cv2.imread(str(photo)))
    cv2.imwrite(str(folder / "b.png"), cv2.resize(photo_bgr("chelsea"), (200, 140)))
    masks = tmp_path / "masks"
    run = run_cli(capsys, "segment", folder, "--weights", lraspp_file, "--mask-out", masks)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in masks.iterdir()) == ["a.png", "b.png"]
    assert cv2.imread(str(masks / "b.png"), cv2.IMREAD_UNCHANGED).shape == (140, 200)
    assert run.stdout.count("%") >= 2
    # a video of 5 frames with a green background picture behind people
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (240, 160))
    base = cv2.imread(str(photo))
    for i in range(5):
        writer.write(np.roll(base, 2 * i, axis=1))
    writer.release()
    green = tmp_path / "green.png"
    cv2.imwrite(str(green), np.full((50, 50, 3), (0, 255, 0), np.uint8))
    out = tmp_path / "out.avi"
    run = run_cli(capsys, "segment", video, "--weights", lraspp_file, "--replace-background", green, "-o", out, "--json")
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    capture = cv2.VideoCapture(str(out))
    ok, first = capture.read()
    count = 1 + sum(1 for _ in iter(lambda: capture.read()[0], False))
    capture.release()
    assert ok and first.shape == (160, 240, 3) and count == 5
    # where the network saw no person (most of the picture) it is now the green background
    green_share = (np.abs(first.astype(int) - [0, 255, 0]).max(axis=2) < 40).mean()
    assert green_share > 0.5 and records[0]["pixels"].get("person", 0) < 0.5 * 240 * 160


def test_bad_input_is_one_error_line(capsys, tmp_path, photo, lraspp_file):
    # weights of another architecture
    run = run_cli(capsys, "segment", photo, "--model", "deeplabv3_mobilenet_v3_large", "--weights", lraspp_file)
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "does not fit deeplabv3_mobilenet_v3_large" in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    # a background picture that cannot be read
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    run = run_cli(capsys, "segment", photo, "--weights", lraspp_file, "--replace-background", broken, "-o", tmp_path / "o.png")
    assert run.returncode == 2 and "background picture" in run.stderr and "broken.png" in run.stderr
    assert not (tmp_path / "o.png").exists()
    # a video that ends before its first frame (an empty, damaged file)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"\x00" * 64)
    run = run_cli(capsys, "segment", empty, "--weights", lraspp_file)
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "empty.mp4" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    # not installed: how to install
    run = run_cli(capsys, "segment", photo)
    assert run.returncode == 2 and f"models fetch {LRASPP}" in run.stderr
