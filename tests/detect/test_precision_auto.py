"""precision="auto": the fastest mode that agrees with fp32, resolved once from CPU flags."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.features.detect.backends.darknet.capabilities import darknet_capabilities
from engine.features.detect.backends.darknet.detector import cpu_bf16_supported, yolo_from_files
from engine.features.detect.options import DetectorOptions
from engine.features.detect.task import DetectionTask
from engine.models.catalog import Capabilities, CapabilityError
from engine.runtime.precision import cpu_flags, resolve_precision

AMX = ("fpu", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
AVX512_BF16 = ("avx2", "avx512f", "avx512_bf16")
LAPTOP = ("avx2", "fma")  # this machine's kind: no bf16 instructions


def test_auto_is_bf16_only_where_the_cpu_computes_it_natively():
    darknet = ("fp32", "bf16", "int8")
    assert resolve_precision("auto", darknet, "cpu", AMX).mode == "bf16"
    assert resolve_precision("auto", darknet, "cpu", AMX).label == "auto (bf16: AMX)"
    assert resolve_precision("auto", darknet, "cpu", AVX512_BF16).label == "auto (bf16: AVX512-BF16)"
    assert resolve_precision("auto", darknet, "cpu", LAPTOP).label == "auto (fp32: no bf16 on this CPU)"
    # int8 is never chosen by auto: only when asked for.
    assert resolve_precision("auto", ("fp32", "int8"), "cpu", AMX).label == "auto (fp32: the model has no bf16 mode)"
    assert resolve_precision("int8", darknet, "cpu", LAPTOP).label == "int8"
    assert resolve_precision("auto", darknet, "cuda", AMX).mode == "fp32"  # the detector picks float16 itself


def test_options_default_to_auto_and_resolve_it_for_a_model():
    options = DetectorOptions()
    assert options.precision == "auto"
    options.check(Capabilities(), "fp32-only")  # every model takes auto
    resolved, choice = options.resolve(darknet_capabilities(), "cpu", AMX)
    assert resolved.precision == "bf16" and choice.requested == "auto"
    resolved, choice = options.resolve(darknet_capabilities(), "cpu", LAPTOP)
    assert resolved.precision == "fp32" and "no bf16" in choice.label
    kept, _ = DetectorOptions(precision="int8").resolve(darknet_capabilities(), "cpu", AMX)
    assert kept.precision == "int8"
    with pytest.raises(CapabilityError, match="bf16 is not available for fp32-only"):
        DetectorOptions(precision="bf16").check(Capabilities(), "fp32-only")
    with pytest.raises(ValueError, match="one of auto, fp32, bf16, int8"):
        DetectorOptions(precision="fast")


def test_this_cpus_flags_are_read():
    flags = cpu_flags()
    assert isinstance(flags, frozenset)
    if sys.platform.startswith("linux"):
        assert flags and all(f == f.lower() for f in flags)
        # oneDNN's own check agrees with the flags about bf16 on this machine.
        assert bool({"avx512_bf16", "amx_bf16"} & flags) == cpu_bf16_supported()


def test_a_built_detector_says_what_auto_chose(darknet_weights, street_image):
    cfg, weights = darknet_weights("yolov4-tiny")
    auto = yolo_from_files(cfg, weights, None, DetectorOptions(input_size=(320, 256)))
    expected = resolve_precision("auto", darknet_capabilities().precisions)
    assert auto.precision_label == expected.label
    assert auto.dtype == (torch.bfloat16 if expected.mode == "bf16" else torch.float32)
    exact = yolo_from_files(cfg, weights, None, DetectorOptions(input_size=(320, 256), precision="fp32"))
    assert exact.precision_label == "fp32"
    # The live task's status (the status bar's "ready" line) names the mode auto chose.
    task = DetectionTask(lambda device: auto, name="detect:yolov4-tiny")
    task.load(torch.device("cpu"))
    assert task.status == expected.label and task.name == "detect:yolov4-tiny"
    exact_task = DetectionTask(lambda device: exact, name="detect:yolov4-tiny")
    exact_task.load(torch.device("cpu"))
    assert exact_task.status == ""
    if expected.mode == "fp32":  # auto is fp32 here: the very same detections
        a, b = auto.detect(street_image), exact.detect(street_image)
        assert len(a) == len(b) > 0 and np.array_equal(a.boxes, b.boxes)


def test_detect_help_says_what_auto_means_here():
    out = subprocess.run([sys.executable, "main.py", "detect", "--help"], capture_output=True, text=True,
                         check=True, env={"COLUMNS": "400", "PATH": ""}).stdout
    label = resolve_precision("auto", ("fp32", "bf16")).label
    assert "auto|fp32|bf16|int8" in out.replace("{", "").replace("}", "").replace(",", "|")
    assert f"here {label}" in " ".join(out.split())
