"""YOLOX in the CLI like every catalog model: `models import`, `detect IMAGE --model
yolox-nano` and `detect VIDEO --track` (random weights in the released layout, installed
through the weights cache; a short video written with OpenCV)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import skimage.data

import main as app_main
from engine.features.detect.backends.yolox.random_weights import random_state_dict, write_random_pth


def run_cli(capsys, *argv):
    code = app_main.main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("yolox-cli") / "cat.png"
    cv2.imwrite(str(path), cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Eight frames of the photo drifting right by 2 px a frame."""
    image = cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR)[:288, :416]
    path = tmp_path_factory.mktemp("yolox-clip") / "cat.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 288))
    for k in range(8):
        writer.write(np.ascontiguousarray(image[:, 16 - 2 * k:400 - 2 * k]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def nano_installed(tmp_path_factory):
    weights = write_random_pth(tmp_path_factory.mktemp("yolox-w") / "yolox_nano.pth", "nano", seed=7)
    # Random weights are not the released file (whose size and SHA-256 the entry pins): forced.
    assert app_main.main(["models", "import", "yolox-nano", str(weights), "--force"]) == 0
    return weights


def test_detect_image_with_the_catalog_model(capsys, nano_installed, photo):
    code, out, err = run_cli(capsys, "detect", photo, "--model", "yolox-nano", "--json")
    assert code == 0, err
    record = json.loads(out.strip().splitlines()[0])
    dets = record["detections"]
    assert dets and all(d["score"] >= 0.25 for d in dets)
    code, out, err = run_cli(capsys, "detect", photo, "--model", "yolox-nano", "--size", "320x224", "--json")
    assert code == 0, err
    code, out, err = run_cli(capsys, "detect", photo, "--model", "yolox-nano", "--size", "330x224")
    assert code == 2 and "multiples of 32" in err and len(err.strip().splitlines()) == 1


def test_detect_video_tracks_yolox_boxes(capsys, nano_installed, clip):
    code, out, err = run_cli(capsys, "detect", clip, "--model", "yolox-nano", "--track", "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert len(records) == 8
    assert all(r["detections"] and all("track_id" in d for d in r["detections"]) for r in records)
    ids = [{d["track_id"] for d in r["detections"] if d["track_id"] is not None} for r in records[2:]]
    assert set.intersection(*ids), "some object should keep its track id while the picture drifts"


def test_import_refuses_wrong_shapes_naming_the_key(capsys, tmp_path):
    state = random_state_dict("tiny")
    state["head.reg_preds.1.weight"] = state["head.reg_preds.1.weight"][:, :8].clone()
    bad = tmp_path / "bad.pth"
    import torch
    torch.save({"model": state}, bad)
    code, out, err = run_cli(capsys, "models", "import", "yolox-tiny", bad)
    assert code == 2 and "expected 40,755,013" in err and "not the published yolox_tiny.pth" in err
    # forced, the validator still loads it and names the first key that does not fit
    code, out, err = run_cli(capsys, "models", "import", "yolox-tiny", bad, "--force")
    assert code == 2 and "'head.reg_preds.1.weight' has shape (4, 8, 1, 1)" in err
    assert len(err.strip().splitlines()) == 1


def test_precision_is_taken_or_refused_from_the_entrys_capabilities(capsys, nano_installed, photo):
    code, out, err = run_cli(capsys, "detect", photo, "--model", "yolox-nano", "--precision", "bf16", "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[0])["detections"]
    # Nano's depthwise convolutions gain nothing from int8: its entry does not offer it
    code, out, err = run_cli(capsys, "detect", photo, "--model", "yolox-nano", "--precision", "int8")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--precision int8 is not available for yolox-nano: it runs in fp32, bf16" in err


def test_the_detect_tab_offers_what_the_entry_and_the_cpu_share():
    from engine.core.store import MemoryStore
    from engine.features.detect.controller import DetectController
    from engine.models.catalog import catalog

    entries = [catalog().get(n) for n in ("yolox-nano", "yolox-tiny", "dfine-n")]
    c = DetectController(entries, MemoryStore({}), device_precisions=("fp32", "bf16", "int8"))
    assert c.precision_choices() == ("auto", "fp32", "bf16")
    assert c.auto_label == "auto (fp32: bf16 not shown to agree with fp32 for this model)"
    c.select_model(1)
    assert c.precision_choices() == ("auto", "fp32", "bf16", "int8")
    c.set_precision("int8")
    assert c.precision_label == "int8"
    c.select_model(2)
    assert c.precision_choices() == ("auto", "fp32", "bf16", "int8") and c.effective_precision == "int8"
