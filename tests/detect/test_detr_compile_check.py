"""A compiled DETR-style network is checked against eager as a set of queries
(detr/compile_check.py): the same predictions in another order pass, as does a swap of
the last query kept; predictions that moved fail, and the detector then runs eagerly
with one note saying so."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from engine.features.detect.backends.compiling import BackgroundCompiling
from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.backends.detr.compile_check import AGREEMENT, query_set_mismatch
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from engine.runtime.compiled import Tolerance, mismatch, tolerance_for
from tests.detect.dfine_reference import save_reference, tiny_config

FP32 = tolerance_for(torch.float32)


def outputs(queries: int = 300, classes: int = 80, layers: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Made-up DETR outputs of one image: logits, cxcywh boxes, per-layer boxes, proposal logits."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, queries, classes, generator=g) * 3, torch.rand(1, queries, 4, generator=g),
            torch.rand(1, layers + 1, queries, 4, generator=g), torch.randn(1, queries, generator=g))


def reordered(out: tuple[torch.Tensor, ...], order: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The same predictions with the queries listed in ``order``."""
    return out[0][:, order], out[1][:, order], out[2][:, :, order], out[3][:, order]


def test_the_same_queries_in_another_order_agree_though_index_by_index_they_do_not():
    eager = outputs()
    compiled = reordered(eager, torch.randperm(300, generator=torch.Generator().manual_seed(1)))
    assert mismatch(compiled, eager, FP32) is not None  # why the element-wise check cannot be used
    assert query_set_mismatch(compiled, eager, FP32) is None
    nudged = tuple(t * (1 + 1e-5) for t in compiled)  # another summation order's last bits
    assert query_set_mismatch(nudged, eager, FP32) is None


def test_a_swapped_last_query_passes_but_more_than_two_percent_moved_fails():
    eager = outputs()
    swapped = tuple(t.clone() for t in eager)
    runner_up = outputs(seed=9)
    for t, other in zip(swapped, runner_up):  # the top-k kept another query in one place
        t[..., 0, :] = other[..., 0, :] if t.dim() == 3 else t[..., 0, :]
    swapped[2][:, :, 0] = runner_up[2][:, :, 0]
    swapped[3][:, 0] = runner_up[3][:, 0]
    assert query_set_mismatch(swapped, eager, FP32) is None
    moved = tuple(t.clone() for t in eager)
    count = math.ceil(300 * (1 - AGREEMENT)) + 1
    moved[1][:, :count] += 0.05  # boxes shifted by 5 % of the input
    why = query_set_mismatch(moved, eager, FP32)
    assert why is not None and "queries have a compiled counterpart" in why


def test_shapes_and_unchecked_runs():
    eager = outputs()
    assert "0% of eager's 300 queries" in query_set_mismatch(outputs(seed=3), eager, FP32)  # another network
    fewer = outputs(queries=299)
    assert "instead of" in query_set_mismatch(fewer, eager, FP32)
    assert query_set_mismatch(outputs(seed=4), eager, Tolerance(rtol=float("inf"), atol=float("inf"))) is None
    nan = tuple(t.clone() for t in eager)
    nan[0][0, 0, 0] = float("nan")
    assert query_set_mismatch(nan, eager, FP32) is not None


class Reordering(nn.Module):
    """What a compile that lists the queries in another order gives: ``module``'s outputs
    with the queries reversed; ``shift`` moves every box too (a wrong compile)."""

    def __init__(self, module: nn.Module, shift: float = 0.0) -> None:
        super().__init__()
        self.module, self.shift = module, shift

    def forward(self, x: torch.Tensor):
        out = self.module(x)
        flip = torch.arange(out[0].shape[1] - 1, -1, -1)
        moved = [out[0][:, flip], out[1][:, flip] + self.shift]
        if len(out) > 2:
            moved.append(out[2][:, :, flip])
        if len(out) > 3:
            moved.append(out[3][:, flip])
        return tuple(moved)


@pytest.fixture(scope="module")
def dfine_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dfine")
    save_reference(tiny_config("three_levels"), folder, seed=1)
    return folder


@pytest.mark.parametrize("shift", [0.0, 0.1])
def test_the_detector_serves_a_reordered_compile_and_refuses_a_wrong_one(dfine_folder, monkeypatch, shift):
    monkeypatch.setattr(BackgroundCompiling, "compilers", (lambda module: Reordering(module, shift),))
    eager = open_model_dir(dfine_folder, None, options=DetectorOptions(precision="fp32"))
    detector = open_model_dir(dfine_folder, None, options=DetectorOptions(precision="fp32", compile=True))
    image = synthetic_image(240, 320, seed=3)
    for _ in range(3):  # the compile waits for the first eager calls
        detector.detect(image)
    assert detector._network.wait(60)
    expected, got = eager.detect(image), detector.detect(image)
    if shift == 0.0:
        assert detector.compile_state == "compiled"
        order = np.lexsort((got.boxes[:, 0], got.scores))
        want = np.lexsort((expected.boxes[:, 0], expected.scores))
        assert np.array_equal(got.class_ids[order], expected.class_ids[want])
        assert np.allclose(got.boxes[order], expected.boxes[want], atol=1e-3)
    else:
        assert detector.compile_state == "eager"
        assert "compiled counterpart" in detector.compile_note
        assert np.allclose(got.boxes, expected.boxes, atol=1e-4)  # eager again
