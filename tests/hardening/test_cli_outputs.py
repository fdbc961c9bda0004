"""Outputs of the commands: never one of the inputs, written atomically, valid JSON; numbers
on the command line are finite and in range.

The commands run as child processes of `main.py` under a 3 GiB data limit (and, for the
failed write, a file size limit).
"""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from engine.core.safe_files import json_text
from tests.hardening.conftest import TWO_GB_KIB, child_env
from tests.hardening.limited_cli import run_limited, run_limited_many


def crossing_detections(path, objects: int = 20, frames: int = 12):
    """`objects` boxes side by side moving down across y=100, one `detect --json` line a frame."""
    with path.open("w") as fh:
        for f in range(frames):
            dets = [{"class_id": 0, "label": "cup", "score": 0.9, "box": [60 * i, 60 + 8 * f, 60 * i + 30, 90 + 8 * f]}
                    for i in range(objects)]
            fh.write(json.dumps({"frame": f, "detections": dets}) + "\n")
    return path


def test_track_events_cannot_be_the_input(tmp_path):
    """`track d.json --events d.json` replaced the detections with the events."""
    dets = crossing_detections(tmp_path / "d.json")
    before = dets.read_bytes()
    result = run_limited("track", dets, "--line", "0,100,2000,100", "--events", dets)
    result.assert_one_error(f"--events {dets} is the input", "destroy")
    assert dets.read_bytes() == before


def test_detect_events_cannot_be_an_input(tmp_path, tiny_detector_files):
    cfg, weights, names = tiny_detector_files
    names_json = tmp_path / "names.json"
    names_json.write_bytes(names.read_bytes())
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    result = run_limited("detect", image, "--cfg", cfg, "--weights", weights, "--names", names_json,
                         "--events", names_json)
    result.assert_one_error(f"--events {names_json} is the input", "destroy")
    assert names_json.read_bytes() == names.read_bytes()


def test_a_failed_events_write_keeps_the_previous_file_and_names_it(tmp_path):
    """Events were written in place: "[Errno 27] File too large" destroyed the previous file
    and named no file. Now the new file is written beside it and renamed when complete."""
    dets = crossing_detections(tmp_path / "dets.jsonl")
    events = tmp_path / "events.json"
    events.write_text("[]\n")
    result = run_limited("track", dets, "--line", "0,100,2000,100:door", "--events", events, file_size=2048)
    result.assert_one_error(str(events), "could not be written", "File too large", "previous file is unchanged")
    assert events.read_text() == "[]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dets.jsonl", "events.json"]  # no temporary left
    complete = run_limited("track", dets, "--line", "0,100,2000,100:door", "--events", events)
    assert complete.rc == 0, complete.stderr
    assert len(json.loads(events.read_text())) == 20


NUMBER_CASES = [
    (["stylize", "c.jpg", "s.jpg", "-o", "o.png", "--alpha", "nan"], "--alpha", "'nan' is not a finite number"),
    (["stylize", "c.jpg", "s.jpg", "-o", "o.png", "--style-weights", "nan,1"], "--style-weights", "'nan' is not a finite"),
    (["stylize", "c.jpg", "s.jpg", "-o", "o.png", "--style-weight", "inf"], "--style-weight", "'inf' is not a finite"),
    (["faces", "verify", "a.jpg", "b.jpg", "--threshold", "inf"], "--threshold", "'inf' is not a finite number"),
    (["faces", "verify", "a.jpg", "b.jpg", "--threshold", "nan"], "--threshold", "'nan' is not a finite number"),
    (["faces", "verify", "a.jpg", "b.jpg", "--threshold", "-1"], "--threshold", "-1 is out of range"),
    (["faces", "calibrate", "--far", "nan"], "--far", "'nan' is not a finite number"),
    (["detect", "x.png", "--conf", "nan"], "--conf", "'nan' is not a finite number"),
    (["track", "d.jsonl", "--fps", "inf"], "--fps", "'inf' is not a finite number"),
    (["track", "d.jsonl", "--fps", "0"], "--fps", "0 is out of range"),
    (["inspect", "x.png", "--model", "lenet5", "--alpha", "nan"], "--alpha", "'nan' is not a finite number"),
    (["teach", "train", "f", "-o", "m", "--epochs", "1e9"], "--epochs", "'1e9' is not a whole number"),
]


@pytest.fixture(scope="module")
def number_runs():
    """Every case of NUMBER_CASES in one child: argparse refuses them before any work."""
    argvs = [case[0] for case in NUMBER_CASES]
    return dict(zip(map(tuple, argvs), run_limited_many(argvs)))


@pytest.mark.parametrize("argv, option, fragment", NUMBER_CASES)
def test_numbers_must_be_finite_and_in_range(number_runs, argv, option, fragment):
    result = number_runs[tuple(argv)]
    assert result.rc == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"argument {option}: {fragment}" in result.stderr


def test_json_text_is_always_valid_json():
    text = json_text({"score": float("nan"), "box": [1.0, float("inf"), np.float32("nan"), 2], "ok": 0.5})
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in {text}")) == {
        "score": None, "box": [1.0, None, None, 2], "ok": 0.5}


@pytest.fixture
def pictures(tmp_path):
    content, style = tmp_path / "photo.jpg", tmp_path / "style.png"
    y, x = np.mgrid[0:48, 0:64]
    cv2.imwrite(str(content), np.stack([x * 3, y * 4, (x + y) * 2], axis=2).astype(np.uint8))
    cv2.imwrite(str(style), np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    return content, style


@pytest.mark.parametrize("method", ["palette", "adain"])
def test_adain_and_palette_work_without_size(pictures, tmp_path, method):
    """`stylize photo.jpg style.jpg --method adain -o out.jpg` (the README's example) always
    crashed with "TypeError: None * float": the default size was not applied."""
    from engine.features.style.adain import random_decoder_state, random_encoder_state
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    models = tmp_path / "models"
    cache = WeightsCache(models)
    for name, state in (("adain-vgg", random_encoder_state(2)), ("adain-decoder", random_decoder_state(2))):
        torch.save(state, tmp_path / f"{name}.pth")
        cache.import_file(catalog().get(name), tmp_path / f"{name}.pth", force=True)
    content, style = pictures
    out = tmp_path / "out.jpg"
    result = run_limited("stylize", content, style, "--method", method, "-o", out,
                         env=child_env(CNN_STUDIO_MODELS=str(models)))
    assert result.rc == 0 and "Traceback" not in result.stderr, result.stderr
    assert max(cv2.imread(str(out)).shape[:2]) == 512  # the default --size
    assert result.peak_kib < TWO_GB_KIB


def test_a_style_model_with_nan_weights_is_refused_naming_the_file(pictures, tmp_path):
    """A NaN fast-style model painted a black picture without a word."""
    from engine.features.style.transformer_net import random_state

    state = random_state(1)
    state["conv1.conv2d.weight"][0, 0, 0, 0] = math.nan
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    content, _ = pictures
    out = tmp_path / "out.png"
    result = run_limited("stylize", content, "--method", "fast", "--model", broken, "-o", out)
    result.assert_one_error(str(broken), "conv1.conv2d.weight", "not finite")
    assert not out.exists()
