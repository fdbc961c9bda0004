"""bf16 and int8 for the DETR family (D-FINE, RT-DETR) through ``SetDetector``: the modes
run, stay finite and close to float32 query by query, int8 switches to a quantised copy
after its calibration frames, and the CLI takes ``--precision`` for a model folder."""

from __future__ import annotations

import json

import pytest
import skimage.data
import torch
from torch import nn

from engine.features.detect.backends import cpu_precision
from engine.features.detect.backends.darknet import int8 as int8_convs
from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.backends.detr.detector import SetDetector
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from tests.detect.detr_oracle import save_random
from tests.detect.dfine_reference import save_reference, tiny_config

needs_int8 = pytest.mark.skipif(not int8_convs.available(), reason="this PyTorch build has no oneDNN int8 ops")


@pytest.fixture(scope="module", params=["dfine", "rtdetr"])
def folder(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param)
    if request.param == "dfine":
        save_reference(tiny_config("three_levels"), path, seed=1)
    else:
        save_random(path, "rt_detr", seed=2)
    return path


def outputs(detector: SetDetector, image) -> tuple[torch.Tensor, ...]:
    return detector.forward(detector.prepare(image))


def bf16_detector(folder):
    """The folder's detector in bf16, natively or (CPUs without it) emulated."""
    detector = open_model_dir(folder, options=DetectorOptions(precision="fp32"), device="cpu")
    return SetDetector(detector.model, detector.class_names, name="bf16", transforms=detector.transforms,
                       capabilities=detector.capabilities, precision="bf16", native_bf16_only=False, device="cpu")


def test_bf16_runs_in_bfloat16_without_nan_and_close_to_fp32(folder):
    image = skimage.data.astronaut()[:, :, ::-1].copy()
    exact = open_model_dir(folder, options=DetectorOptions(precision="fp32"), device="cpu")
    reference = [t.clone() for t in outputs(exact, image)]
    bf16 = bf16_detector(folder)
    assert bf16.precision == "bfloat16" and next(bf16.model.parameters()).dtype == torch.bfloat16
    got = outputs(bf16, image)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in got)  # deformable sampling: no NaN
    # The same queries end up in about the same places (boxes in fractions of the input).
    # Random weights amplify rounding layer by layer (the tiny random RT-DETR's encoder is
    # already ~5% off), so these bounds check that bf16 computes the same function, not
    # that it agrees with fp32 well enough for "auto" (bench/detect_variants.py measures that).
    box_error = float((got[1] - reference[1]).abs().median())
    assert box_error < (0.01 if "dfine" in folder.name else 0.05)
    if "dfine" in folder.name:
        assert float((got[0].argmax(-1) == reference[0].argmax(-1)).float().mean()) > 0.9
    assert bf16.detect(image).boxes.dtype.name == "float32"


@needs_int8
def test_int8_calibrates_then_runs_int8_convolutions_and_linears(folder):
    image = skimage.data.astronaut()[:, :, ::-1].copy()
    exact = open_model_dir(folder, options=DetectorOptions(precision="fp32"), device="cpu")
    reference = [t.clone() for t in outputs(exact, image)]
    int8 = open_model_dir(folder, options=DetectorOptions(precision="int8"), device="cpu")
    assert int8.precision == "int8" and int8.precision_label == "int8"
    for seed in range(100, 100 + cpu_precision.Int8Switch.FRAMES):
        int8.detect(synthetic_image(480, 640, seed=seed))
    network = int8._network
    assert network is not int8.model
    assert any(isinstance(m, int8_convs.Int8ConvAct) for m in network.modules())
    assert not any(type(m) is nn.Linear for m in network.modules())  # every linear layer dynamic int8
    assert any(type(m) is nn.Linear for m in int8.model.modules())    # the float32 original stays
    got = outputs(int8, image)
    assert all(torch.isfinite(t).all() for t in got)
    assert float((got[1] - reference[1]).abs().median()) < 0.05


def test_auto_stays_fp32_and_says_why(folder):
    detector = open_model_dir(folder, device="cpu")
    assert detector.precision == "float32"
    assert detector.precision_label.startswith("auto (fp32")


def test_cli_takes_precision_for_a_model_folder(capsys, folder, tmp_path):
    import cv2

    import main as app_main

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), skimage.data.astronaut()[:, :, ::-1])
    for precision in ("bf16", "int8"):
        code = app_main.main(["detect", str(photo), "--model-dir", str(folder), "--precision", precision, "--json",
                              "--size", "160x160"] if "dfine" in folder.name else
                             ["detect", str(photo), "--model-dir", str(folder), "--precision", precision, "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "detections" in json.loads(out.strip().splitlines()[0])
