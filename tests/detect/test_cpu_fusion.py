"""The CPU fast path gives exactly the eager network's outputs, and leaves Mish alone."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from engine.features.detect.backends.darknet import cpu_fusion
from engine.features.detect.backends.darknet.cfg import parse_cfg
from engine.features.detect.backends.darknet.detector import YoloDetector
from engine.features.detect.backends.darknet.layers import ConvBlock
from engine.features.detect.backends.darknet.model import DarknetModel
from engine.features.detect.backends.darknet.weights_file import load_darknet_weights
from engine.features.detect.names import bundled_path

pytestmark = pytest.mark.skipif(not cpu_fusion.available(), reason="this PyTorch build has no fused oneDNN convolution")


def fused_model(darknet_weights, name: str) -> DarknetModel:
    cfg_path, weights_path = darknet_weights(name)
    model = DarknetModel(parse_cfg(cfg_path))
    load_darknet_weights(model, weights_path)
    model.fuse()
    return model.eval().to(memory_format=torch.channels_last)


@pytest.mark.parametrize("name", ["yolov4-tiny", "yolov7-tiny"])
def test_packed_network_matches_eager_at_any_size(darknet_weights, name):
    eager = fused_model(darknet_weights, name)
    packed = copy.deepcopy(eager)
    example = torch.zeros(1, 3, 416, 416).contiguous(memory_format=torch.channels_last)
    count = cpu_fusion.pack_for_cpu(packed, example)
    convs = sum(isinstance(m, ConvBlock) for m in eager.modules())
    assert count == convs  # leaky/linear everywhere in these cfgs
    torch.manual_seed(0)
    for shape in [(1, 3, 416, 416), (1, 3, 352, 608)]:
        x = torch.rand(shape).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            expected, got = eager(x), packed(x)
        assert [t.shape for t in got] == [t.shape for t in expected]
        for a, b in zip(expected, got):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_mish_blocks_stay_eager():
    model = DarknetModel(parse_cfg(bundled_path("yolov4.cfg")))
    model.fuse()
    model.eval()
    count = cpu_fusion.pack_for_cpu(model, torch.zeros(1, 3, 64, 64))
    mish = [m for m in model.modules() if isinstance(m, ConvBlock) and isinstance(m.act, nn.Mish)]
    assert mish and all(isinstance(m.conv, nn.Conv2d) for m in mish)
    assert 0 < count < sum(isinstance(m, ConvBlock) for m in model.modules())


def test_detector_keeps_its_original_model_unpacked(darknet_weights):
    cfg_path, weights_path = darknet_weights("yolov4-tiny")
    detector = YoloDetector.from_files(cfg_path, weights_path)
    assert all(isinstance(m.conv, nn.Conv2d) for m in detector.model.modules() if isinstance(m, ConvBlock))
    assert any(isinstance(m.conv, cpu_fusion.PackedConvAct) for m in detector._network.modules() if isinstance(m, ConvBlock))
