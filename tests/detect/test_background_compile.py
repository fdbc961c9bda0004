"""The live Darknet detector behind engine.runtime.compiled: "auto" compiles bf16 on a CPU,
the detector and the live task's status line say whether it is compiling or compiled, and
detections stay those of the eager network. The compile here is torch.compile with the
aot_eager backend (dynamo and AOT tracing without inductor's C++ build, to stay fast)."""

from __future__ import annotations

import numpy as np
import torch

from engine.features.detect.backends.darknet.detector import YoloDetector, yolo_from_files
from engine.features.detect.options import COMPILE_ENV, DetectorOptions, auto_compile
from engine.features.detect.task import DetectionTask
from engine.runtime.compiled import BackgroundCompiled


def aot_eager(module):
    return torch.compile(module, backend="aot_eager", dynamic=False)


def test_auto_compiles_fp32_and_bf16_on_a_cpu_only(monkeypatch):
    monkeypatch.delenv(COMPILE_ENV, raising=False)
    assert auto_compile("bf16", "cpu") and auto_compile("fp32", "cpu")
    assert not auto_compile("int8", "cpu") and not auto_compile("bf16", "cuda") and not auto_compile("fp32", "cuda")
    monkeypatch.setenv(COMPILE_ENV, "off")
    assert not auto_compile("bf16", "cpu")
    assert DetectorOptions().compile is False  # one-off runs (CLI, batch) do not compile unless asked


def test_compile_off_builds_an_eager_detector(darknet_weights):
    cfg, weights = darknet_weights("yolov3-tiny")
    detector = yolo_from_files(cfg, weights, None, DetectorOptions(input_size=(96, 64), precision="fp32", compile=None))
    assert not isinstance(detector._network, BackgroundCompiled)  # auto: fp32 stays eager (packed)
    assert detector.compile_state == "" and detector.precision_label == "fp32"


def test_the_detector_says_compiling_then_compiled_and_keeps_its_detections(darknet_weights, street_image):
    cfg, weights = darknet_weights("yolov3-tiny")
    detector = YoloDetector.from_files(cfg, weights, input_size=(160, 128))
    expected = detector.detect(street_image)
    x = torch.zeros(1, 3, 128, 160).contiguous(memory_format=torch.channels_last)
    network = BackgroundCompiled(detector.model, x, compiler=aot_eager, name=detector.name, start=False)
    detector._network = network
    network.start()
    assert detector.compile_state == "compiling…" and detector.precision_label == "fp32, compiling…"
    task = DetectionTask(lambda device: detector, name="detect:yolov3-tiny")
    task.load(torch.device("cpu"))
    assert task.status.startswith("fp32, compil")  # the status bar's "ready" line
    first = detector.detect(street_image)  # eager or compiled, whichever is ready: the same boxes
    assert network.wait(120) and network.state == "compiled"
    assert detector.precision_label == "fp32, compiled"
    later = detector.detect(street_image)
    for got in (first, later):
        assert len(got) == len(expected) > 0
        assert np.allclose(got.boxes, expected.boxes, atol=1e-2) and np.array_equal(got.class_ids, expected.class_ids)
