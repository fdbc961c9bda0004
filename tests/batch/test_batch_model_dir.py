"""`batch detect --model-dir`: your own model folder on embedded Ray gives the rows of the
sequential `detect --model-dir --json`, and the run records the model, so that resuming
its folder with another model (or the same path retrained) is refused."""

from __future__ import annotations

import json

import pytest
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)

import main as app_main
from engine.batch.store import read_table
from tests.batch.rows import assert_same_rows, batch_rows
from tests.detect.detr_oracle import save_random  # noqa: E402


def _batch(capsys, *argv):
    code = app_main.main(["batch", "detect", *map(str, argv), "--conf", "0.05"])
    out, err = capsys.readouterr()
    return code, out, err


def _sequential(capsys, path, model_dir) -> dict:
    code = app_main.main(["detect", str(path), "--model-dir", str(model_dir), "--conf", "0.05", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = {}
    for line in out.strip().splitlines():
        record = json.loads(line)
        rows[(str(path), record["frame"])] = [(d["class_id"], d["label"], d["score"], d["box"])
                                              for d in record["detections"]]
    return rows


@pytest.mark.slow  # starts Ray once (most of the time)
def test_model_dir_rows_equal_the_sequential_cli_and_another_model_is_refused(capsys, media, tmp_path):
    model = tmp_path / "my-rtdetr"
    save_random(model, "rt_detr_v2", seed=4)
    out_dir = tmp_path / "out"
    code, out, err = _batch(capsys, media / "a.png", media / "clip2.avi", "--model-dir", model, "--out", out_dir,
                            "--workers", "1")
    assert code == 0, err
    settings = json.loads((out_dir / "run.json").read_text())
    assert settings["model_dir"] == str(model) and settings["model"] == "my-rtdetr" and settings["model_stamp"]

    expected = {**_sequential(capsys, media / "a.png", model), **_sequential(capsys, media / "clip2.avi", model)}
    got = batch_rows(read_table(out_dir, "detections"), read_table(out_dir, "frames"))
    assert sum(len(v) for v in expected.values()) > 0
    assert_same_rows(got, expected)

    # Another model folder, then the same folder retrained: both refused, before any work.
    other = tmp_path / "other"
    save_random(other, "rt_detr_v2", seed=5)
    code, out, err = _batch(capsys, media / "a.png", "--model-dir", other, "--out", out_dir)
    assert code == 2 and "other settings" in err and "model_dir" in err, err
    save_random(model, "rt_detr_v2", seed=6)
    code, out, err = _batch(capsys, media / "a.png", "--model-dir", model, "--out", out_dir)
    assert code == 2 and "other settings (model_stamp differ)" in err, err


@pytest.mark.parametrize("extra, words", [
    (["--model", "yolov4-tiny"], "one of --model or --model-dir"),
    (["--names", "coco.names"], "id2label"),
    (["--iou", "0.5"], "non-maximum suppression"),
])
def test_bad_model_dir_options_are_one_line_before_ray(capsys, media, tmp_path, extra, words):
    model = tmp_path / "m"
    save_random(model, "rt_detr_v2", seed=4)
    capsys.readouterr()  # transformers' own progress bar
    code, out, err = _batch(capsys, media / "a.png", "--model-dir", model, "--out", tmp_path / "out", *extra)
    assert code == 2 and out == "", err
    assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_names_without_model_dir_is_refused(capsys, media, tmp_path):
    code, out, err = _batch(capsys, media / "a.png", "--names", "x.names", "--out", tmp_path / "out")
    assert code == 2 and "--names only applies to --model-dir" in err
