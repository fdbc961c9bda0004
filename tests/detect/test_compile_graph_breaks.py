"""The live networks compile as one graph: torch._dynamo.explain finds no graph break
(shape arithmetic in Python on tensors, data-dependent branches, unsupported calls would
each split the graph and leave eager glue between compiled pieces). Dynamo tracing only,
at a small input: no inductor build."""

from __future__ import annotations

import pytest
import torch

from engine.features.detect.backends.darknet.cfg import parse_cfg
from engine.features.detect.backends.darknet.random_weights import calibrated_random_model
from engine.features.detect.names import bundled_path
from engine.models.yolox.model import build_yolox


def explain(model: torch.nn.Module, x: torch.Tensor):
    torch._dynamo.reset()
    with torch.inference_mode():
        return torch._dynamo.explain(model)(x)


@pytest.mark.parametrize("name", ["yolov4-tiny", "yolov3-tiny"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_darknet_network_compiles_without_graph_breaks(name, dtype):
    model = calibrated_random_model(parse_cfg(bundled_path(f"{name}.cfg"))).fuse().eval().to(dtype)
    model = model.to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 96, 128, dtype=dtype).contiguous(memory_format=torch.channels_last)
    result = explain(model, x)
    assert result.graph_break_count == 0, result.break_reasons
    assert result.graph_count == 1


def test_yolox_network_compiles_without_graph_breaks():
    model = build_yolox("nano", num_classes=3).fuse().eval()
    result = explain(model, torch.rand(1, 3, 64, 96))
    assert result.graph_break_count == 0, result.break_reasons
    assert result.graph_count == 1
