"""YOLOX and the DETR family (D-FINE, RT-DETR) compile the way Darknet does: behind a
``BackgroundCompiled`` where ``options.auto_compile`` says it pays (compile None, the live
app's "auto"), or when asked; eager with one note when the compile is given up; and the live
worker reports the end of a compile as a "status" event. The compiler here returns the
module as it is (or raises): the background thread, the check against eager and the swap
are the real ones, without inductor's minutes of C++ building."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.core.frame import Frame
from engine.features.detect.backends.compiling import BackgroundCompiling
from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.backends.yolox.loading import yolox_from_pth
from engine.features.detect.backends.yolox.random_weights import write_random_pth
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import AUTO_COMPILE, COMPILE_ENV, DetectorOptions, auto_compile
from engine.features.detect.task import DetectionTask
from engine.runtime.compiled import BackgroundCompiled
from engine.runtime.worker import running_worker
from tests.detect.detr_oracle import save_random
from tests.detect.dfine_reference import save_reference, tiny_config


def unchanged(module):
    return module


def no_compiler(module):
    raise RuntimeError("no C++ compiler here")


@pytest.fixture(scope="module", params=["yolox", "dfine", "rtdetr"])
def built(request, tmp_path_factory):
    """``build(options) -> detector`` of one family from seeded random weights, and its family."""
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "yolox":
        path = write_random_pth(folder / "yolox_nano.pth", "nano", seed=7)
        return (lambda options: yolox_from_pth(path, options=options)), "yolox"
    if request.param == "dfine":
        save_reference(tiny_config("three_levels"), folder, seed=1)
    else:
        save_random(folder, "rt_detr", seed=2)
    return (lambda options: open_model_dir(folder, None, options=options)), "detr"


@pytest.fixture()
def quick(monkeypatch):
    monkeypatch.delenv(COMPILE_ENV, raising=False)
    monkeypatch.setattr(BackgroundCompiling, "compilers", (unchanged,))


def test_auto_compiles_where_the_policy_says(built, quick, monkeypatch):
    build, family = built
    auto = DetectorOptions(precision="fp32", compile=None)
    expected = auto_compile("fp32", "cpu", family)  # the measured policy, whatever it is
    assert isinstance(build(auto)._network, BackgroundCompiled) == expected
    for policy in (frozenset(), frozenset({"fp32"})):
        monkeypatch.setitem(AUTO_COMPILE, family, policy)
        detector = build(auto)
        assert isinstance(detector._network, BackgroundCompiled) == ("fp32" in policy)
        assert detector.compile_state == ("compiling…" if policy else "")
    monkeypatch.setenv(COMPILE_ENV, "off")  # the test suite's setting: auto never compiles
    assert not isinstance(build(auto)._network, BackgroundCompiled)
    assert isinstance(build(DetectorOptions(precision="fp32", compile=True))._network, BackgroundCompiled)
    assert not isinstance(build(DetectorOptions(precision="fp32"))._network, BackgroundCompiled)  # one-off runs


def test_compiling_then_compiled_keeps_the_detections(built, quick):
    build, _ = built
    eager = build(DetectorOptions(precision="fp32"))
    compiled = build(DetectorOptions(precision="fp32", compile=True))
    assert compiled.precision_label == "fp32, compiling…"
    image = synthetic_image(240, 320, seed=3)
    expected = eager.detect(image)
    found = [compiled.detect(image) for _ in range(3)]  # the compile waits for these eager calls
    assert compiled._network.wait(60) and compiled.compile_state == "compiled"
    assert compiled.precision_label == "fp32, compiled"
    found.append(compiled.detect(image))
    for got in found:
        assert np.array_equal(got.class_ids, expected.class_ids) and np.allclose(got.boxes, expected.boxes, atol=1e-3)


def test_a_given_up_compile_runs_eagerly_and_the_worker_says_why(built, monkeypatch):
    build, _ = built
    monkeypatch.setattr(BackgroundCompiling, "compilers", (no_compiler,))
    detector = build(DetectorOptions(precision="fp32", compile=True))
    events = []
    task = DetectionTask(lambda device: detector, name="detect:tiny")
    image = synthetic_image(240, 320, seed=3)
    with running_worker(lambda result: None, task, device="cpu", on_event=events.append) as worker:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e.kind == "status" for e in events):
            worker.submit(Frame(image, 0, time.monotonic(), "test"))
            time.sleep(0.05)
    ready = next(e for e in events if e.kind == "ready")
    status = next(e for e in events if e.kind == "status")
    assert "in fp32, compiling…" in ready.message
    assert "fp32, eager (torch.compile failed (RuntimeError: no C++ compiler here))" in status.message
    assert detector.compile_state == "eager" and "no C++ compiler" in detector.compile_note
    assert detector.detect(image) is not None  # still serving, eagerly
    assert detector._network.state == "failed"
