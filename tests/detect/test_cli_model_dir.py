"""`detect INPUT --model-dir DIR|FILE`: your own model folder through the real command;
its JSON is the detector's own result, tracking runs on it, and bad input gives one
`error:` line (exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)

import main as app_main
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from tests.detect.detr_oracle import save_random  # noqa: E402


def run_cli(capsys, *argv):
    code = app_main.main(["detect", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("my-rtdetr")
    save_random(folder, "rt_detr_v2", seed=4)
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "coffee.png"
    cv2.imwrite(str(path), cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR))
    return path


def test_json_is_the_detectors_result(capsys, model_dir, photo):
    code, out, err = run_cli(capsys, photo, "--model-dir", model_dir, "--conf", "0.3", "--json")
    assert code == 0, err
    record = json.loads(out)
    expected = open_model_dir(model_dir, options=DetectorOptions(conf_threshold=0.3)).detect(cv2.imread(str(photo)))
    assert (record["width"], record["height"]) == (600, 400)
    assert len(record["detections"]) == len(expected) > 0
    assert [d["label"] for d in record["detections"]] == expected.labels
    assert np.allclose([d["box"] for d in record["detections"]], expected.boxes, atol=0.01)


def test_tracking_and_classes(capsys, model_dir, photo):
    code, out, err = run_cli(capsys, photo, "--model-dir", model_dir / "config.json", "--track", "--json",
                             "--classes", "person,cat,dog,car")
    assert code == 0, err
    labels = {d["label"] for d in json.loads(out)["detections"]}
    assert labels <= {"person", "cat", "dog", "car"}


@pytest.mark.parametrize("extra, words", [
    (["--iou", "0.5"], "non-maximum suppression"),
    (["--model", "yolov4-tiny"], "one of --model"),
    (["--names", "coco.names"], "id2label"),
])
def test_bad_options(capsys, model_dir, photo, extra, words):
    code, out, err = run_cli(capsys, photo, "--model-dir", model_dir, *extra)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1


def test_bad_model_paths_one_line_each(capsys, tmp_path, photo):
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "detr"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "detr", "id2label": {"0": "a"}}))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "rt_detr", "id2label": {"0": "a"}}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    for path, words in ((empty, "no config.json"), (other, "not supported"), (pickled, "pickled"),
                        (tmp_path / "missing", "no such file")):
        code, out, err = run_cli(capsys, photo, "--model-dir", path)
        assert code == 2 and err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1, err


def test_real_entry_point(model_dir, photo, tmp_path):
    out = tmp_path / "annotated.png"
    proc = subprocess.run([sys.executable, str(app_main.__file__), "detect", str(photo), "--model-dir", str(model_dir),
                           "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "object(s)" in proc.stdout and cv2.imread(str(out)).shape == (400, 600, 3)
