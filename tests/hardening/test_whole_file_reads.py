"""Files that were read whole or trusted for their declared counts: dlib .dat models,
`track` inputs, `stylize train` content photos.

Huge files are sparse (``truncate``): gigabytes that cost no disk. Each case runs
``main.py`` in a capped child (``bounded_cli``) and must give one ``error:`` line naming
the file, with peak RSS under 2 GB.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from tests.hardening.bounded_cli import run_bounded_many
from tests.hardening.conftest import TWO_GB_KIB, child_env


def _dlib_int(value: int) -> bytes:
    magnitude = abs(value)
    raw = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(raw) | (0x80 if value < 0 else 0)]) + raw


def _dlib_float(value: float) -> bytes:
    mantissa, exponent = float(value).as_integer_ratio()
    shift = exponent.bit_length() - 1  # value = mantissa / 2**shift (a power of two denominator)
    return _dlib_int(mantissa) + _dlib_int(-shift)


def hostile_shape_model(path: Path) -> Path:
    """A 5-point shape predictor header whose one tree declares 2^40 x 2^20 leaf values."""
    data = _dlib_int(1)                                   # shape_predictor version
    data += _dlib_int(-10) + _dlib_int(-1)                # initial shape: 10 x 1 matrix
    data += b"".join(_dlib_float(0.5) for _ in range(10))
    data += _dlib_int(1) + _dlib_int(1)                   # one cascade level of one tree
    data += _dlib_int(1) + b"".join(_dlib_int(0) for _ in range(4))   # one split
    data += _dlib_int(2) + _dlib_int(-(1 << 40)) + _dlib_int(-(1 << 20))  # two leaves of 2^60 values
    data += bytes(64)
    path.write_bytes(data)
    return path


def test_dlib_models_declaring_huge_counts_or_gigabytes(tmp_path):
    home = tmp_path / "home"
    installed = home / "cache" / "models" / "dlib-5pt" / "shape_predictor_5_face_landmarks.dat"
    installed.parent.mkdir(parents=True)
    with open(installed, "wb") as fh:
        fh.truncate(3 * 1024**3)  # a 3 GB .dat, sparse
    hostile = hostile_shape_model(tmp_path / "leaves.dat")
    chip = tmp_path / "chip.png"
    cv2.imwrite(str(chip), np.full((150, 150, 3), 90, np.uint8))
    runs, peak = run_bounded_many([
        ["faces", "embed", chip, "--aligned", "--embedder", "dlib-resnet"],  # builds dlib-5pt for alignment
        ["models", "import", "dlib-5pt", hostile, "--force"],
    ], env=child_env(CNN_STUDIO_HOME=str(home)))
    assert peak < TWO_GB_KIB, f"peak RSS {peak // 1024} MB"
    runs[0].assert_one_error(str(installed), "larger than the limit")
    line = runs[1].assert_one_error(str(hostile), "end of file")
    assert "TiB" not in line and "integers declared" in line


def test_a_huge_track_file_is_streamed_line_by_line(tmp_path):
    good = tmp_path / "ok.jsonl"
    record = {"frame": 0, "detections": [{"class_id": 0, "label": "car", "score": 0.9, "box": [1, 2, 30, 40]}]}
    good.write_text("\n".join(json.dumps({**record, "frame": i}) for i in range(3)) + "\n")
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps(record) + "\n")
    with open(huge, "ab") as fh:
        fh.truncate(2 * 1024**3)  # then one 2 GB line of zeros, sparse
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    ids = tmp_path / "ids.jsonl"
    ids.write_text(json.dumps({"frame": 0, "detections": [{**record["detections"][0], "class_id": 10**15}]}) + "\n")
    runs, peak = run_bounded_many([["track", good], ["track", huge], ["track", fifo], ["track", ids]], timeout=180)
    assert peak < TWO_GB_KIB, f"peak RSS {peak // 1024} MB"
    assert runs[0].rc == 0 and "3 frame(s)" in runs[0].stdout + runs[0].stderr, runs[0].stderr
    runs[1].assert_one_error(f"{huge}:2", "longer than the limit")
    runs[2].assert_one_error(str(fifo), "FIFO")
    runs[3].assert_one_error(f"{ids}:1", "class_id")


def _jpeg_claiming(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    data = bytearray(data.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_stylize_train_applies_the_image_limits(tmp_path):
    """Six 5 KB JPEGs claiming 30000x30000 pixels: each is refused from its header."""
    import torch

    from engine.features.style.vgg16 import random_state

    home = tmp_path / "home"
    vgg = home / "cache" / "models" / "vgg16" / "vgg16-397923af.pth"
    vgg.parent.mkdir(parents=True)
    torch.save(random_state(0), vgg)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        (photos / f"p{i}.jpg").write_bytes(_jpeg_claiming(30000, 30000))
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    runs, peak = run_bounded_many([["stylize", "train", style, photos, "-o", tmp_path / "out.pth",
                                    "--steps", "2", "--size", "32", "--batch", "1"]],
                                  env=child_env(CNN_STUDIO_HOME=str(home)))
    assert peak < TWO_GB_KIB, f"peak RSS {peak // 1024} MB"
    runs[0].assert_one_error("none of the 6 content images could be read")
    assert "30000x30000" in runs[0].stderr and str(photos / "p0.jpg") in runs[0].stderr
    assert not (tmp_path / "out.pth").exists()
