"""`main.py segment --model maskrcnn_resnet50_fpn` on a real photo: the overlay, the JSON
instances and the instance-id map equal the engine's; bad input as one `error:` line."""

from __future__ import annotations

import json

import cv2
import numpy as np

from engine.features.segment.instances import InstanceModel
from engine.models.catalog import catalog
from tests.segment.test_segment_cli import run_cli
from tests.segment.weights import photo_bgr

MASKRCNN = "maskrcnn_resnet50_fpn"


def test_instances_json_id_map_and_overlay(tmp_path, capsys, maskrcnn_file, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.resize(photo_bgr("astronaut"), (400, 300)))
    ids_png, out = tmp_path / "ids.png", tmp_path / "drawn.png"
    run = run_cli(capsys, "segment", photo, "--model", MASKRCNN, "--weights", maskrcnn_file, "--size", 320,
                  "--score", 0.3, "--json", "--mask-out", ids_png, "-o", out)
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    model = InstanceModel.from_file(catalog().get(MASKRCNN), maskrcnn_file)
    model.set_min_size(320)
    image = cv2.imread(str(photo))
    expected = model.run(image).above(0.3)
    assert record["model"] == MASKRCNN and (record["width"], record["height"]) == (400, 300)
    rows = record["instances"]
    assert len(rows) == len(expected) > 0
    assert [r["label"] for r in rows] == expected.names()
    assert [r["mask_area"] for r in rows] == expected.mask_areas()
    np.testing.assert_allclose([r["box"] for r in rows], expected.boxes, atol=0.06)
    assert all(r["score"] >= 0.3 for r in rows)
    ids = cv2.imread(str(ids_png), cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint8 and ids.shape == (300, 400)
    assert np.array_equal(ids, expected.id_map())  # instance ids (1-based, the JSON's order), 0 none
    assert int(ids.max()) <= len(rows)
    drawn = cv2.imread(str(out))
    assert drawn.shape == image.shape and (drawn != image).any()


def test_bad_input_is_one_line(tmp_path, capsys, lraspp_file, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.full((60, 80, 3), 90, np.uint8))
    # a semantic model's weights for Mask R-CNN: the first key that does not fit is named
    run = run_cli(capsys, "segment", photo, "--model", MASKRCNN, "--weights", lraspp_file)
    assert run.returncode == 2 and run.stderr.count("error:") == 1
    assert "lraspp_mobilenet_v3_large" in run.stderr and "backbone.body.conv1.weight" in run.stderr
    run = run_cli(capsys, "segment", photo, "--model", "keypointrcnn_resnet50_fpn", "--blur-background",
                  "-o", tmp_path / "o.png")
    assert run.returncode == 2 and "need a semantic model" in run.stderr
    # not installed: says how to get it
    run = run_cli(capsys, "segment", photo, "--model", MASKRCNN)
    assert run.returncode == 2 and MASKRCNN in run.stderr and "models fetch" in run.stderr


def test_a_video_that_ends_gives_every_frame_then_stops(tmp_path, capsys, maskrcnn_file, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (200, 150))
    base = cv2.resize(photo_bgr("astronaut"), (200, 150))
    for i in range(2):
        writer.write(np.roll(base, 3 * i, axis=1))
    writer.release()
    out, ids = tmp_path / "drawn.avi", tmp_path / "ids"
    run = run_cli(capsys, "segment", video, "--model", MASKRCNN, "--weights", maskrcnn_file, "--size", 320,
                  "--score", 0.2, "--json", "-o", out, "--mask-out", ids)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 1] and all(r["model"] == MASKRCNN for r in records)
    assert sorted(p.name for p in ids.iterdir()) == ["frame_000000.png", "frame_000001.png"]
    capture = cv2.VideoCapture(str(out))
    count = sum(1 for _ in iter(lambda: capture.read()[0], False))
    capture.release()
    assert count == 2
    # a video that ends before its first frame
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"\x00" * 64)
    run = run_cli(capsys, "segment", empty, "--model", MASKRCNN, "--weights", maskrcnn_file)
    assert run.returncode == 2 and run.stderr.count("error:") == 1 and "empty.mp4" in run.stderr
