"""engine.runtime.compiled: eager at once, the compiled network swapped in once it agrees,
eager kept (with one note) when compiling fails or disagrees. A real torch.compile of a
tiny network (the aot_eager backend: the whole dynamo + AOT path without a C++ build)."""

from __future__ import annotations

import logging

import pytest
import torch

from engine.runtime.compiled import COMPILED, FAILED, BackgroundCompiled, Tolerance, mismatch, tolerance_for, use_app_cache
from tests.engine.compile_helpers import aot_eager, notes, serve_first, tiny


@torch.inference_mode()
def test_serves_eager_at_once_and_the_compiled_network_after_the_swap():
    model, x = tiny(), torch.rand(1, 3, 16, 16)
    net = BackgroundCompiled(model, x, compiler=aot_eager, name="tiny", start=False)
    assert net.state == "eager" and net.label == ""
    assert torch.equal(net(x), model(x))  # before any compile: the module itself
    net.start()
    serve_first(net, x)
    assert net.wait(120)
    assert net.state == COMPILED and net.label == "compiled" and net.note == ""
    assert net._fn is not model  # calls now go through the compiled function
    assert torch.allclose(net(x), model(x), atol=1e-6)
    assert net.compile_seconds is not None and net.compile_seconds > 0


@torch.inference_mode()
def test_the_compile_starts_after_the_first_result_and_restores_the_switch_interval():
    import sys

    started = []

    def watching(module):
        started.append(sys.getswitchinterval())
        return module

    model, x = tiny(), torch.rand(1, 3, 8, 8)
    before = sys.getswitchinterval()
    net = BackgroundCompiled(model, x, compiler=watching)
    assert not net.wait(0.3) and not started  # no call yet: the compile waits for the first results
    serve_first(net, x)
    assert net.wait(30) and net.state == COMPILED
    assert started[0] < before and sys.getswitchinterval() == before


@torch.inference_mode()
def test_a_new_input_size_runs_eagerly_until_it_is_compiled_too():
    model, x = tiny(), torch.rand(1, 3, 16, 16)
    net = BackgroundCompiled(model, x, compiler=aot_eager)
    assert torch.equal(net(x), model(x))
    serve_first(net, x)  # the compile waits for the first calls to end
    assert net.wait(120) and net.state == COMPILED
    bigger = torch.rand(1, 3, 32, 24)
    assert torch.equal(net(bigger), model(bigger))  # served eagerly while 32x24 compiles
    assert net.wait(120) and net.state == COMPILED
    assert net._ready_key[0] == (1, 3, 32, 24)
    assert torch.allclose(net(bigger), model(bigger), atol=1e-6)


@torch.inference_mode()
def test_a_compile_that_raises_leaves_eager_serving_with_one_note(caplog):
    def broken(module):
        raise RuntimeError("no C++ compiler found\nsecond line")

    model, x = tiny(), torch.rand(1, 3, 16, 16)
    with caplog.at_level(logging.INFO, logger="engine.runtime.compiled"):
        net = BackgroundCompiled(model, x, compiler=broken, name="tiny")
        serve_first(net, x)
        assert net.wait(30)
        for _ in range(3):
            assert torch.equal(net(x), model(x))
        net.start()  # given up for good: no second try, no second note
    assert net.state == FAILED and net.label == ""
    assert "no C++ compiler found" in net.note and "second line" not in net.note
    assert len(notes(caplog)) == 1 and "running eagerly" in notes(caplog)[0]


@torch.inference_mode()
def test_the_next_compiler_is_tried_when_one_raises(caplog):
    def broken(module):
        raise RuntimeError("C++ wrapper unsupported")

    model, x = tiny(), torch.rand(1, 3, 16, 16)
    with caplog.at_level(logging.INFO, logger="engine.runtime.compiled"):
        net = BackgroundCompiled(model, x, compiler=(broken, aot_eager))
        serve_first(net, x)
        assert net.wait(120)
    assert net.state == COMPILED and not notes(caplog)
    assert torch.allclose(net(x), model(x), atol=1e-6)


@torch.inference_mode()
def test_a_compiled_network_that_disagrees_with_eager_is_not_used(caplog):
    def wrong(module):
        return lambda x: module(x) + 1.0

    model, x = tiny(), torch.rand(1, 3, 16, 16)
    with caplog.at_level(logging.INFO, logger="engine.runtime.compiled"):
        net = BackgroundCompiled(model, x, compiler=wrong)
        serve_first(net, x)
        assert net.wait(30)
    assert net.state == FAILED and "disagrees" in net.note
    assert torch.equal(net(x), model(x))
    assert len(notes(caplog)) == 1


@torch.inference_mode()
def test_a_compiled_call_that_fails_later_falls_back_for_good(caplog):
    calls = []

    def flaky(module):
        def run(x):
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("kernel failed")
            return module(x)
        return run

    model, x = tiny(), torch.rand(1, 3, 16, 16)
    with caplog.at_level(logging.INFO, logger="engine.runtime.compiled"):
        net = BackgroundCompiled(model, x, compiler=flaky)
        serve_first(net, x)
        assert net.wait(30) and net.state == COMPILED
        assert torch.equal(net(x), model(x))
        assert torch.equal(net(x), model(x))
    assert net.state == FAILED and "kernel failed" in net.note and len(calls) == 2
    assert len(notes(caplog)) == 1


def test_tolerance_fits_the_precision():
    e = [torch.full((2, 3), 10.0), torch.full((4,), 2.0)]
    close = [e[0] + 0.3, e[1] + 0.05]  # 3% and 2.5% of each output's largest value
    assert mismatch(close, e, tolerance_for(torch.bfloat16)) is None
    assert "output 0" in mismatch(close, e, tolerance_for(torch.float32))
    assert "outputs" in mismatch(close[:1], e, Tolerance(1.0, 1.0))
    assert "instead of" in mismatch([e[0].T, e[1]], e, Tolerance(1.0, 1.0))


def test_inductor_caches_go_to_the_app_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    folder = use_app_cache()
    assert folder == str(tmp_path / "cache" / "torch-compile")
    assert (tmp_path / "cache" / "torch-compile").is_dir()
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert use_app_cache() == str(tmp_path / "mine")  # the user's choice stands


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_tolerance_for_is_looser_for_narrower_types(dtype):
    assert tolerance_for(dtype).rtol >= tolerance_for(torch.float32).rtol
