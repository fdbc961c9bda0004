"""`python main.py detect ...`: outputs, JSON lines, installed models, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import main as app_main
from engine.features.detect.backends.darknet.random_weights import synthetic_image

ROOT = Path(app_main.__file__).resolve().parent


def run_cli(capsys, *argv):
    code = app_main.main(["detect", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-inputs")
    images = folder / "images"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"street{i}.png"), synthetic_image(240, 320, seed=10 + i))
    video = folder / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(4):
        writer.write(synthetic_image(240, 320, seed=20 + i))
    writer.release()
    return {"image": images / "street0.png", "folder": images, "video": video}


def test_json_lines_for_an_image(capsys, darknet_weights, inputs, tmp_path):
    cfg, weights = darknet_weights("yolov4-tiny")
    out_image = tmp_path / "annotated.jpg"
    code, out, err = run_cli(capsys, inputs["image"], "--cfg", cfg, "--weights", weights, "--json",
                             "--size", "320x256", "-o", out_image)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) == {"source", "frame", "width", "height", "detections"}
    assert (record["source"], record["frame"], record["width"], record["height"]) == ("street0.png", 0, 320, 240)
    assert record["detections"], "random weights are calibrated to give some detections"
    for det in record["detections"]:
        assert set(det) == {"class_id", "label", "score", "box"}
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 <= x2 <= 320 and 0 <= y1 <= y2 <= 240 and det["score"] > 0.25
    annotated = cv2.imread(str(out_image))
    assert annotated.shape == (240, 320, 3)
    assert not np.array_equal(annotated, cv2.imread(str(inputs["image"])))  # boxes were drawn


def test_folder_and_video_outputs(capsys, darknet_weights, inputs, tmp_path):
    cfg, weights = darknet_weights("yolov4-tiny")
    out_dir = tmp_path / "annotated"
    code, out, err = run_cli(capsys, inputs["folder"], "--cfg", cfg, "--weights", weights, "-o", out_dir,
                             "--conf", "0.5")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["street0.png", "street1.png"]
    assert out.count("object(s)") == 2
    video_out = tmp_path / "annotated.mp4"
    code, out, err = run_cli(capsys, inputs["video"], "--cfg", cfg, "--weights", weights, "--json", "-o", video_out)
    assert code == 0, err
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3]
    capture = cv2.VideoCapture(str(video_out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()


def test_installed_catalog_model_and_class_filter(capsys, darknet_weights, inputs, monkeypatch, tmp_path):
    # A home of its own: other tests may have installed yolov3-tiny in the session's home.
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    code, out, err = run_cli(capsys, inputs["image"], "--model", "yolov3-tiny")
    assert code != 0 and err.startswith("error: ") and "models fetch yolov3-tiny" in err
    assert len(err.strip().splitlines()) == 1
    _, weights = darknet_weights("yolov3-tiny")
    assert app_main.main(["models", "import", "yolov3-tiny", str(weights)]) == 0
    capsys.readouterr()
    code, out, err = run_cli(capsys, inputs["image"], "--model", "yolov3-tiny", "--json", "--classes", "person,car",
                             "--conf", "0.1")
    assert code == 0, err
    labels = {d["label"] for d in json.loads(out)["detections"]}
    assert labels and labels <= {"person", "car"}


def test_bad_input_gives_one_error_line(capsys, darknet_weights, inputs, tmp_path):
    cfg, weights = darknet_weights("yolov4-tiny")
    short = tmp_path / "short.weights"
    short.write_bytes(weights.read_bytes()[:-100])
    bad_cfg = tmp_path / "bad.cfg"
    bad_cfg.write_text(cfg.read_text().replace("[upsample]", "[upsampel]"))
    names = tmp_path / "three.names"
    names.write_text("a\nb\nc\n")
    cases = [
        (["--cfg", cfg, "--weights", short], r"too short .*expected 24,251,276 bytes .*got 24,251,176 bytes"),
        (["--cfg", bad_cfg, "--weights", weights], r"bad\.cfg:\d+: unknown or unsupported layer type \[upsampel\]"),
        (["--cfg", cfg, "--weights", weights, "--names", names], r"lists 3 classes, but the model predicts 80"),
        (["--cfg", cfg, "--weights", weights, "--classes", "person,unicorn"], r"unknown class name\(s\) .*unicorn"),
        (["--cfg", cfg], r"--cfg and --weights go together"),
        (["--model", "yolov9"], r"no model called 'yolov9'"),
        (["--model", "ssdlite320_mobilenet_v3_large", "--size", "320x320"], r"--size only applies to YOLO models"),
        (["--cfg", cfg, "--weights", weights, "-o", tmp_path / "out.txt"], r"give an image file name"),
    ]
    for extra, pattern in cases:
        code, out, err = run_cli(capsys, inputs["image"], *extra)
        assert code != 0, extra
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert __import__("re").search(pattern, lines[0]), (pattern, lines[0])


def test_real_entry_point(darknet_weights, inputs):
    cfg, weights = darknet_weights("yolov4-tiny")
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "detect", str(inputs["image"]), "--cfg", str(cfg),
                           "--weights", str(weights), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["width"] == 320
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "detect", str(inputs["image"]), "--cfg",
                           str(cfg) + ".missing", "--weights", str(weights)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and proc.stderr.startswith("error: cfg file not found") and "Traceback" not in proc.stderr
