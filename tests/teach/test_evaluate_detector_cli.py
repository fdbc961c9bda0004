"""`teach evaluate` on a detector model folder and a YOLO-layout folder: the numbers the
engine computes, the AP table, bad labels counted (never fatal), the worst pictures."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import main
from engine.features.detect.backends.yolox.random_weights import random_model
from engine.features.teach.detection.evaluate import evaluate_detector
from engine.features.teach.detection.labels import read_yolo_dataset
from engine.features.teach.detection.scenes import CLASSES, write_scenes
from engine.features.teach.detection.trained import TrainedDetector
from engine.features.teach.detection.training import load_trained_detector


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("detector")
    data = write_scenes(root / "data", count=5, seed=6, size=(160, 128))
    with open(data / "labels" / "scene_0001.txt", "a") as f:
        f.write("7 0.5 0.5 0.1 0.1\n0 0.98 0.5 0.2 0.2\n")  # a class beyond classes.txt; a box reaching outside
    model = TrainedDetector(random_model("nano", len(CLASSES), seed=1), CLASSES, "nano", 128).save(root / "model")
    return model, data


def test_cli_reports_what_the_engine_computes(setup, capsys):
    model, data = setup
    dataset = read_yolo_dataset(data)
    expected = evaluate_detector(load_trained_detector(model).predict, dataset)
    assert main.main(["teach", "evaluate", str(model), str(data), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "detector" and doc["pictures"] == 5
    assert doc["map50"] == pytest.approx(expected.metrics.map50, abs=1e-6)
    assert doc["map50_95"] == pytest.approx(expected.metrics.map50_95, abs=1e-6)
    assert [c["ap50"] for c in doc["classes"]] == pytest.approx([round(float(a), 6) for a in expected.metrics.ap50])
    assert doc["bad_labels"] == {"class id beyond classes.txt (box dropped)": 1, "box outside the picture (clipped)": 1}
    assert doc["missed"] == expected.missed and doc["truth_boxes"] == dataset.box_count

    assert main.main(["teach", "evaluate", str(model), str(data)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"mAP@0.5       {expected.metrics.map50:.3f}"
    assert lines[1].startswith(f"mAP@0.5:0.95  {expected.metrics.map50_95:.3f}")
    header = next(i for i, line in enumerate(lines) if line.split() == ["class", "boxes", "AP@0.5", "AP@0.5:0.95"])
    counts = expected.truth_per_class()
    for k, name in enumerate(CLASSES):
        row = lines[header + 1 + k].split()
        assert row[:3] == [name, str(counts[k]), "-" if np.isnan(expected.metrics.ap50[k]) else f"{expected.metrics.ap50[k]:.3f}"]
    assert "bad labels: 1 class id beyond classes.txt (box dropped), 1 box outside the picture (clipped)" in out
    assert re.search(r"scene_0001.txt:\d+: class id beyond classes.txt", err)  # each bad label named on stderr
    worst = expected.worst(8)
    assert worst  # random weights miss boxes
    listed = [line.split("\t")[0].strip() for line in lines[lines.index("worst pictures (most missed boxes, then most false positives)") + 1:]]
    assert listed == [str(r.image_path) for r in worst]


def test_cli_detector_on_a_folder_without_classes_txt(setup, tmp_path, capsys):
    model, _ = setup
    (tmp_path / "cats").mkdir()
    assert main.main(["teach", "evaluate", str(model), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "classes.txt" in err[0]


def test_cli_detector_on_data_with_other_classes(setup, tmp_path, capsys):
    model, data = setup
    other = tmp_path / "other"
    other.mkdir()
    (other / "classes.txt").write_text("cat\ndog\n")
    (other / "images").mkdir()
    assert main.main(["teach", "evaluate", str(model), str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: the model knows 3 classes (disc, square, triangle) but {other / 'classes.txt'} lists 2 "
                   "(cat, dog): evaluate on pictures labelled with the model's classes"]
