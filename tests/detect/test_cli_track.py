"""`detect --track/--line/--zone/--events` and `track DETECTIONS.jsonl`."""

from __future__ import annotations

import csv
import json

import cv2
import pytest

import main as app_main
from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.synthetic_scenes import MovingObject, render_detections

NAMES = ["person", "car", "dog"]


def run_cli(capsys, *argv):
    code = app_main.main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory):
    """Six identical frames: every confident detection must keep one track id."""
    path = tmp_path_factory.mktemp("track-clip") / "still.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    image = synthetic_image(240, 320, seed=7)
    for _ in range(6):
        writer.write(image)
    writer.release()
    return path


def write_jsonl(path, frames):
    """Synthetic detections in the `detect --json` format, one object per frame."""
    with path.open("w") as fh:
        for f in frames:
            dets = [{"class_id": int(c), "label": NAMES[int(c)], "score": float(s), "box": [float(v) for v in b]}
                    for b, s, c in zip(f.det_boxes, f.det_scores, f.det_class_ids)]
            fh.write(json.dumps({"source": "clip.mp4", "frame": f.index, "width": 1280, "height": 720,
                                 "detections": dets}) + "\n")
    return path


SCENE = [
    MovingObject(1, 0, 0, 79, (300.0, 205.0), (0.0, 6.0)),   # person, down across y=400
    MovingObject(2, 1, 0, 89, (900.0, 602.0), (0.0, -5.0)),  # car, up across y=400
    MovingObject(3, 0, 0, 99, (100.0, 100.0), (8.0, 0.0)),   # person, right across x=640
]


def test_detect_track_gives_stable_ids_events_and_video(capsys, darknet_weights, still_clip, tmp_path):
    cfg, weights = darknet_weights("yolov4-tiny")
    events = tmp_path / "events.csv"
    video = tmp_path / "annotated.avi"
    code, out, err = run_cli(capsys, "detect", still_clip, "--cfg", cfg, "--weights", weights, "--json",
                             "--size", "320x256", "--track", "--line", "0,120,320,120:middle",
                             "--zone", "0,0,160,0,160,240,0,240:left", "--events", events, "-o", video)
    assert code == 0, err
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert len(records) == 6
    confident = [[d["track_id"] for d in r["detections"] if d["score"] >= 0.25 + 0.1] for r in records]
    assert confident[0] and all(t is not None for t in confident[0])
    assert all(ids == confident[0] for ids in confident)  # nothing moves: the same ids every frame
    assert all("track_id" in d for r in records for d in r["detections"])
    rows = list(csv.DictReader(events.open()))
    assert rows and {r["region"] for r in rows} == {"left"} and {r["direction"] for r in rows} <= {"enter", "exit"}
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (240, 320, 3)


def test_track_counts_saved_detections_and_recounts_with_another_line(capsys, tmp_path):
    jsonl = write_jsonl(tmp_path / "dets.jsonl", render_detections(SCENE, 110, jitter=2.0, seed=3))
    events = tmp_path / "events.json"
    code, out, err = run_cli(capsys, "track", jsonl, "--line", "0,400,1280,400:road", "--events", events,
                             "--fps", "10")
    assert code == 0, err
    assert "line road: in 1 (person 1), out 1 (car 1)" in out
    data = json.loads(events.read_text())
    assert sorted((e["label"], e["direction"]) for e in data) == [("car", "out"), ("person", "in")]
    # The same detections, another line: no detector needed.
    code, out, err = run_cli(capsys, "track", jsonl, "--line", "640,0,640,720:gate", "--json", "--fps", "10")
    assert code == 0, err
    frames = [json.loads(line) for line in out.strip().splitlines()]
    assert len(frames) == 110
    assert set(frames[5]) == {"frame", "time", "tracks", "counts"}
    assert set(frames[5]["tracks"][0]) == {"track_id", "box", "class_id", "score"}
    assert frames[-1]["counts"]["lines"]["gate"]["in"] == {}  # walking right along a downward line is "out"
    assert frames[-1]["counts"]["lines"]["gate"]["out"] == {"person": 1}
    ids = {t["track_id"] for f in frames for t in f["tracks"]}
    assert len(ids) == 3


@pytest.mark.parametrize("args, message", [
    (["--line", "5,5,5,5"], "both points are the same"),
    (["--line", "1,2,3"], "exactly four numbers"),
    (["--zone", "0,0,100,100,100,0,0,100:bow"], "crosses itself"),
    (["--events", "counts.txt"], ".csv or .json"),
])
def test_bad_regions_give_one_error_line(capsys, tmp_path, args, message):
    jsonl = write_jsonl(tmp_path / "dets.jsonl", render_detections(SCENE, 3))
    code, out, err = run_cli(capsys, "track", jsonl, *args)
    assert code == 2 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "detect", "missing.mp4", *args)
    assert code == 2 and message in err


def test_track_rejects_files_that_are_not_detect_json(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"frame": 0, "detections": []}\nnot json\n')
    code, out, err = run_cli(capsys, "track", bad)
    assert code == 2 and f"{bad}:2: not a `detect --json` line" in err
    code, out, err = run_cli(capsys, "track", tmp_path / "nothing.jsonl")
    assert code == 2 and "no such file" in err


def test_catalog_yolo_models_take_size_and_tracking(capsys, darknet_weights, still_clip):
    """--size is read from the entry's meta (adjustable input), not from a kind string."""
    _, weights = darknet_weights("yolov3-tiny")
    assert app_main.main(["models", "import", "yolov3-tiny", str(weights)]) == 0
    capsys.readouterr()
    code, out, err = run_cli(capsys, "detect", still_clip, "--model", "yolov3-tiny", "--size", "320x256", "--track",
                             "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert len(records) == 6 and all("track_id" in d for r in records for d in r["detections"])
