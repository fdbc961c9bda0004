"""The int8 fast mode: quantised convolutions close to float32, calibration on first frames."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from engine.core.boxes import box_iou
from engine.features.detect.backends.darknet import int8
from engine.features.detect.backends.darknet.detector import YoloDetector
from engine.features.detect.backends.darknet.random_weights import synthetic_image

pytestmark = pytest.mark.skipif(not int8.available(), reason="this PyTorch build has no oneDNN int8 convolution")


def test_activation_qparams_cover_the_range_and_hold_zero_exactly():
    scale, zp = int8.activation_qparams(-0.5, 2.0)
    assert scale == pytest.approx(2.5 / 255)
    assert zp == round(0.5 / scale)
    assert 0 <= (-0.5) / scale + zp and 2.0 / scale + zp <= 255.5
    assert int8.activation_qparams(0.2, 1.0) == (pytest.approx(1.0 / 255), 0)  # 0 is always in range
    assert int8.activation_qparams(0.0, 0.0) == (1.0, 0)


@pytest.mark.parametrize("activation", [nn.LeakyReLU(0.1), nn.ReLU(), nn.Identity()])
def test_int8_conv_is_within_quantisation_error(activation):
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, 1, 1)
    x = (torch.randn(1, 16, 24, 40) * 0.7).contiguous(memory_format=torch.channels_last)
    scale, zp = int8.activation_qparams(float(x.min()), float(x.max()))
    q = int8.Int8ConvAct(conv, copy.deepcopy(activation), scale, zp, (24, 40))
    with torch.no_grad():
        ref = activation(conv(x))
        out = q(x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    err = (out - ref).abs().max().item()
    assert err < 0.03 * ref.abs().max().item(), err
    assert err > 0  # it really ran in int8


def test_int8_conv_does_not_clip_its_largest_products():
    """Every input at the top of its range times every weight at its largest: the sum is
    exact in int32, but CPUs without VNNI add pairs of products into a saturating int16
    first; the weights' range must keep those pairs from clipping."""
    conv = nn.Conv2d(16, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(0.5)
    x = torch.ones(1, 16, 3, 5).contiguous(memory_format=torch.channels_last)
    q = int8.Int8ConvAct(conv, nn.Identity(), 1 / 255, 0, (3, 5))
    with torch.no_grad():
        out = q(x)
    torch.testing.assert_close(out, torch.full_like(out, 8.0), rtol=1e-5, atol=1e-5)


def test_first_convolution_sees_the_image_exactly(darknet_weights):
    cfg, weights = darknet_weights("yolov4-tiny")
    det = YoloDetector.from_files(cfg, weights, device="cpu", input_size=(256, 192))
    network = copy.deepcopy(det.model)
    frames = [det.prepare(synthetic_image(240, 320, seed=s))[0].clone() for s in (1, 2)]
    assert int8.quantize_for_cpu(network, frames) == len(det.model.conv_blocks())
    first = network.layers[0].conv
    assert isinstance(first, int8.Int8ConvAct)
    assert (first.x_scale, first.x_zero_point) == (pytest.approx(1 / 255), 0)
    with pytest.raises(ValueError, match="calibration"):
        int8.quantize_for_cpu(copy.deepcopy(det.model), [])


def test_detector_calibrates_on_its_first_frames_then_agrees_with_fp32(darknet_weights):
    cfg, weights = darknet_weights("yolov4-tiny")
    fp32 = YoloDetector.from_files(cfg, weights, device="cpu", input_size=(320, 256))
    fast = YoloDetector.from_files(cfg, weights, device="cpu", input_size=(320, 256), int8=True)
    assert fast.precision == "int8" and fp32.precision == "float32"
    calibration = [synthetic_image(240, 320, seed=40 + s) for s in range(fast.INT8_CALIBRATION_FRAMES)]
    for frame in calibration[:-1]:  # float32 while measuring ranges: identical results
        a, b = fp32.detect(frame), fast.detect(frame)
        np.testing.assert_array_equal(a.boxes, b.boxes)
    fast.detect(calibration[-1])
    assert any(isinstance(m, int8.Int8ConvAct) for m in fast._network.modules())
    assert not any(isinstance(m, int8.Int8ConvAct) for m in fast.model.modules())  # the inspected model stays fp32
    image = synthetic_image(240, 320, seed=3)
    ref, got = fp32.detect(image), fast.detect(image)
    assert len(ref) > 5 and len(got) > 0
    iou = box_iou(ref.boxes, got.boxes)
    iou[ref.class_ids[:, None] != got.class_ids[None, :]] = 0
    recall = float((iou.max(axis=1) >= 0.5).mean())
    assert recall >= 0.6, recall
    assert not np.array_equal(ref.scores, got.scores[: len(ref)]) or len(ref) != len(got)


def test_the_warmup_frame_is_not_a_calibration_frame(darknet_weights):
    """The live task warms the detector up on a blank frame; the first real frames still
    calibrate (and run in float32, identical to fp32) as the CLI's help says."""
    cfg, weights = darknet_weights("yolov4-tiny")
    fp32 = YoloDetector.from_files(cfg, weights, device="cpu", input_size=(320, 256))
    fast = YoloDetector.from_files(cfg, weights, device="cpu", input_size=(320, 256), int8=True)
    fast.warmup()
    for seed in range(fast.INT8_CALIBRATION_FRAMES - 1):
        frame = synthetic_image(240, 320, seed=50 + seed)
        np.testing.assert_array_equal(fp32.detect(frame).scores, fast.detect(frame).scores)
    assert not any(isinstance(m, int8.Int8ConvAct) for m in fast._network.modules())


def test_int8_is_refused_where_it_cannot_run(darknet_weights):
    cfg, weights = darknet_weights("yolov4-tiny")
    det = YoloDetector.from_files(cfg, weights, device="cpu", input_size=(256, 192), int8=True, bf16=True)
    assert det.int8 != det.bf16  # bf16 and int8 never combine; bf16 wins where the CPU has it
    assert det.precision == ("bfloat16" if det.bf16 else "int8")
