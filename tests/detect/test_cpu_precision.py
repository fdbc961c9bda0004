"""bf16 and int8 for the YOLOX and DETR-family detectors: which mode runs, that each one
runs and stays close to float32, and that "auto" only picks what a model declares safe."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from engine.features.detect.backends import cpu_precision
from engine.features.detect.backends.darknet import int8 as int8_convs
from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.backends.yolox.capabilities import yolox_capabilities
from engine.features.detect.backends.yolox.detector import YoloxDetector
from engine.features.detect.backends.yolox.random_weights import random_model
from engine.features.detect.names import coco_names
from engine.features.detect.options import DetectorOptions
from engine.models.catalog import Capabilities, CapabilityError
from engine.runtime.precision import resolve_precision

AMX = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8")
needs_int8 = pytest.mark.skipif(not int8_convs.available(), reason="this PyTorch build has no oneDNN int8 ops")


def test_settle_runs_what_the_device_can(caplog):
    cpu = torch.device("cpu")
    assert cpu_precision.settle("fp32", cpu) == "fp32"
    assert cpu_precision.settle("bf16", cpu, native_only=False) == "bf16"
    native = cpu_precision.cpu_bf16_supported()
    with caplog.at_level(logging.WARNING):
        assert cpu_precision.settle("bf16", cpu, name="m") == ("bf16" if native else "fp32")
        assert cpu_precision.settle("int8", torch.device("cuda"), name="m") == "fp32"
    assert "int8 is a CPU mode" in caplog.text
    with pytest.raises(ValueError, match="one of fp32, bf16, int8"):
        cpu_precision.settle("auto", cpu)


@needs_int8
def test_quantize_convs_replaces_each_conv_and_fuses_paired_activations():
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.act = nn.Conv2d(8, 16, 3, padding=1), nn.SiLU()
            self.head = nn.Conv2d(16, 4, 1)

        def forward(self, x):
            return self.head(self.act(self.conv(x)))

    model = Block().eval()
    inputs = [(torch.rand(1, 8, 24, 32) * 4 - 2,) for _ in range(3)]
    with torch.no_grad():
        expected = model(inputs[0][0])
    count = cpu_precision.quantize_convs(model, inputs, pairs=lambda m: [(m, "conv", "act")])
    assert count == 2
    assert isinstance(model.conv, int8_convs.Int8ConvAct) and model.conv.post_op == "swish"
    assert isinstance(model.act, nn.Identity) and model.head.post_op == "none"
    with torch.no_grad():
        got = model(inputs[0][0])
    assert got.shape == expected.shape
    # int8 rounding, not a different function: within a few percent of the output's spread
    assert float((got - expected).abs().max()) < 0.05 * float(expected.abs().max())


def test_auto_picks_only_the_modes_a_model_declares_safe():
    caps = yolox_capabilities()
    assert caps.precisions[:2] == ("fp32", "bf16") and caps.automatic_precisions == ("fp32",)
    choice = resolve_precision("auto", caps.precisions, "cpu", AMX, caps.automatic_precisions)
    assert choice.mode == "fp32" and choice.label == "auto (fp32: bf16 not shown to agree with fp32 for this model)"
    resolved, choice = DetectorOptions().resolve(caps, "cpu", AMX)
    assert resolved.precision == "fp32"
    # Darknet declares none: auto may pick any of its modes (bf16 on AMX)
    assert DetectorOptions().resolve(Capabilities(precisions=("fp32", "bf16")), "cpu", AMX)[0].precision == "bf16"
    kept, _ = DetectorOptions(precision="bf16").resolve(caps, "cpu", AMX)
    assert kept.precision == "bf16"  # by name it runs
    with pytest.raises(ValueError, match="auto_precisions"):
        Capabilities(precisions=("fp32",), auto_precisions=("fp32", "bf16"))


@pytest.fixture(scope="module")
def yolox_tiny():
    return random_model("tiny", seed=7)


def raw_rows(detector, image):
    with torch.inference_mode():
        return detector.forward(detector.prepare(image)).float()


def test_yolox_bf16_runs_in_bfloat16_and_stays_close(yolox_tiny):
    image = synthetic_image(480, 640, seed=3)
    exact = YoloxDetector(yolox_tiny, coco_names(), device="cpu")
    bf16 = YoloxDetector(random_model("tiny", seed=7), coco_names(), device="cpu", precision="bf16",
                         native_bf16_only=False)
    assert bf16.precision == "bfloat16" and bf16.precision_label == "bf16"
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    a, b = raw_rows(exact, image), raw_rows(bf16, image)
    assert b.dtype == torch.float32 and torch.isfinite(b).all()
    # box offsets (in strides) and probabilities within bfloat16's rounding through the network
    assert float((a[..., :4] - b[..., :4]).abs().mean()) < 0.05
    assert float((a[..., 4:] - b[..., 4:]).abs().mean()) < 0.01
    found = bf16.detect(image)
    assert len(found) and found.boxes.dtype == np.float32


@needs_int8
def test_yolox_int8_calibrates_then_switches_to_a_quantised_copy():
    image = synthetic_image(480, 640, seed=3)
    exact = YoloxDetector(random_model("tiny", seed=7), coco_names(), device="cpu")
    int8 = YoloxDetector(random_model("tiny", seed=7), coco_names(), device="cpu", precision="int8")
    assert int8.precision == "int8"
    for seed in range(100, 100 + cpu_precision.Int8Switch.FRAMES - 1):
        int8.detect(synthetic_image(480, 640, seed=seed))
        assert int8._network is int8.model  # still calibrating, in float32
    int8.detect(synthetic_image(480, 640, seed=200))
    assert int8._network is not int8.model
    quantised = [m for m in int8._network.modules() if isinstance(m, int8_convs.Int8ConvAct)]
    assert len(quantised) == sum(isinstance(m, nn.Conv2d) for m in exact.model.modules())
    assert {m.post_op for m in quantised} == {"swish", "none"}  # SiLU fused; the 1x1 predictions bare
    assert not any(isinstance(m, int8_convs.Int8ConvAct) for m in int8.model.modules())  # the original stays
    a, b = raw_rows(exact, image), raw_rows(int8, image)
    assert float((a[..., 4:] - b[..., 4:]).abs().mean()) < 0.02


def test_a_precision_the_model_lacks_is_refused_naming_what_it_has():
    caps = Capabilities(input_size=yolox_capabilities().input_size, precisions=("fp32", "bf16"), postprocess="nms")
    with pytest.raises(CapabilityError, match="--precision int8 is not available for yolox-nano: it runs in fp32, bf16"):
        DetectorOptions(precision="int8").check(caps, "yolox-nano", {"precision": "--precision"})
