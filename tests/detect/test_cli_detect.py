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
        (["--model", "ssdlite320_mobilenet_v3_large", "--size", "320x320"],
         r"ssdlite320_mobilenet_v3_large has a fixed input size .*--size is for models whose input size can be changed"),
        (["--cfg", cfg, "--weights", weights, "-o", tmp_path / "out.txt"], r"give an image file name"),
    ]
    for extra, pattern in cases:
        code, out, err = run_cli(capsys, inputs["image"], *extra)
        assert code != 0, extra
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert __import__("re").search(pattern, lines[0]), (pattern, lines[0])


def test_size_and_precision_are_checked_against_the_models_capabilities(capsys, darknet_weights, inputs):
    """--size 500 on a Darknet model says the multiple (and sizes that fit); flags a model
    does not take are refused before any weights are read."""
    cfg, weights = darknet_weights("yolov4-tiny")
    cases = [
        (["--cfg", cfg, "--weights", weights, "--size", "500"],
         r"yolov4-tiny\.cfg: --size 500x500 is not valid: width and height must be multiples of 32.*480x480 or 512x512"),
        (["--model", "yolov3-tiny", "--size", "416x500"], r"yolov3-tiny: --size 416x500 is not valid: .*multiples of 32"),
        (["--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--precision", "int8"],
         r"--precision int8 is not available for fasterrcnn_mobilenet_v3_large_320_fpn: it runs in fp32"),
    ]
    for extra, pattern in cases:
        code, out, err = run_cli(capsys, inputs["image"], *extra)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
        assert __import__("re").search(pattern, lines[0]), (pattern, lines[0])
    code, out, err = run_cli(capsys, inputs["image"], "--cfg", cfg, "--weights", weights, "--size", "256", "--json")
    assert code == 0, err  # a single number is a square
    assert json.loads(out.strip().splitlines()[0])["width"] == 320


def test_real_entry_point(darknet_weights, inputs):
    cfg, weights = darknet_weights("yolov4-tiny")
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "detect", str(inputs["image"]), "--cfg", str(cfg),
                           "--weights", str(weights), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["width"] == 320
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "detect", str(inputs["image"]), "--cfg",
                           str(cfg) + ".missing", "--weights", str(weights)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and proc.stderr.startswith("error: cfg file not found") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_cli_gives_the_live_tasks_detections(capsys, darknet_weights, inputs, precision):
    """`detect VIDEO --json` runs the Detect task the way the live worker does: every frame's
    record equals the worker's result on the same frame (int8: the same calibration frames)."""
    import threading

    from engine.features.detect.backends.darknet import int8
    from engine.features.detect.backends.darknet.detector import YoloDetector
    from engine.features.detect.export import detections_record
    from engine.features.detect.task import DetectionTask, DetectSettings
    from engine.io import iter_frames
    from engine.runtime.worker import running_worker

    if precision == "int8" and not int8.available():
        pytest.skip("this PyTorch build has no oneDNN int8 convolution")
    cfg, weights = darknet_weights("yolov4-tiny")
    code, out, err = run_cli(capsys, inputs["video"], "--cfg", cfg, "--weights", weights, "--json", "--conf", "0.2",
                             "--size", "320x256", "--precision", precision)
    assert code == 0, err
    cli_records = [json.loads(line) for line in out.strip().splitlines()]

    options = {"int8": True} if precision == "int8" else {}
    task = DetectionTask(lambda device: YoloDetector.from_files(cfg, weights, device=device, input_size=(320, 256),
                                                                conf_threshold=0.2, **options),
                         settings=DetectSettings(conf_threshold=0.2))
    results = []
    arrived = threading.Condition()

    def keep(result):
        with arrived:
            results.append(result)
            arrived.notify_all()

    with running_worker(keep, task, device="cpu") as worker:
        for count, frame in enumerate(iter_frames(str(inputs["video"])), 1):
            worker.submit(frame)  # one at a time: the worker keeps only the newest
            with arrived:
                assert arrived.wait_for(lambda: len(results) == count, 60)
    live_records = [detections_record(r.result, str(inputs["video"]), r.frame.index) for r in results]
    assert len(cli_records) == 4 and sum(len(r["detections"]) for r in cli_records) > 0
    assert cli_records == live_records
