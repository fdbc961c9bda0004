"""The convolution explainer's arithmetic against torch: dilation, transposed, 1x1 and pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.features.inspect.conv_arith import (
    cross_correlate,
    output_size,
    pointwise,
    pool,
    transposed_cells,
    transposed_convolve,
    transposed_output_size,
    window_cells,
)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))[None, None]


@pytest.mark.parametrize("n, f, p, s, d", [(7, 3, 1, 2, 2), (9, 3, 0, 1, 3), (8, 2, 1, 3, 1), (6, 3, 2, 1, 2)])
def test_dilated_convolution_and_its_size(n, f, p, s, d):
    rng = np.random.default_rng(n * 10 + f)
    patch, kernel = rng.random((n, n), np.float32), rng.random((f, f), np.float32)
    theirs = F.conv2d(_t(patch), _t(kernel), padding=p, stride=s, dilation=d)[0, 0].numpy()
    assert output_size(n, f, p, s, d) == theirs.shape[0]
    assert np.allclose(cross_correlate(patch, kernel, p, s, d), theirs, atol=1e-5)
    # Where the kernel lands: output (1, 1) reads cells spaced d apart, starting at s.
    assert window_cells(1, 1, f, s, d)[:2] == [(s, s), (s, s + d)]


@pytest.mark.parametrize("n, f, p, s, d", [(4, 3, 0, 2, 1), (3, 3, 1, 2, 1), (5, 2, 0, 3, 2), (4, 3, 1, 1, 2)])
def test_transposed_convolution_and_its_size(n, f, p, s, d):
    rng = np.random.default_rng(n + f + s)
    patch, kernel = rng.random((n, n), np.float32), rng.random((f, f), np.float32)
    theirs = F.conv_transpose2d(_t(patch), _t(kernel), padding=p, stride=s, dilation=d)[0, 0].numpy()
    assert transposed_output_size(n, f, p, s, d) == theirs.shape[0]
    assert np.allclose(transposed_convolve(patch, kernel, p, s, d), theirs, atol=1e-5)
    # The output cells one input value writes are exactly where it changes the output.
    one = np.zeros((n, n), np.float32)
    one[1, 1] = 1.0
    touched = F.conv_transpose2d(_t(one), _t(np.ones((f, f), np.float32)), padding=p, stride=s, dilation=d)[0, 0].numpy()
    assert set(transposed_cells(1, 1, f, p, s, d, size=theirs.shape[0])) == {tuple(c) for c in np.argwhere(touched > 0)}


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("n, f, p, s", [(7, 3, 1, 2), (8, 2, 0, 2), (6, 3, 0, 1)])
def test_pooling_uses_the_same_formula(kind, n, f, p, s):
    patch = np.random.default_rng(n).random((n, n)).astype(np.float32) - 0.5  # negatives: max must pad with -inf
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    theirs = op(_t(patch), f, stride=s, padding=p)[0, 0].numpy()
    assert output_size(n, f, p, s) == theirs.shape[0]
    assert np.allclose(pool(patch, f, p, s, kind), theirs, atol=1e-6)


def test_one_by_one_convolution_mixes_channels_and_keeps_the_size():
    rng = np.random.default_rng(0)
    channels, weights = rng.random((3, 5, 5), np.float32), rng.random((2, 3), np.float32)
    theirs = F.conv2d(torch.from_numpy(channels)[None], torch.from_numpy(weights)[:, :, None, None])[0].numpy()
    ours = pointwise(channels, weights)
    assert ours.shape == (2, 5, 5) and np.allclose(ours, theirs, atol=1e-6)


def test_the_panel_switches_operations(qtbot):
    from gui.features.inspect.conv_explainer import ConvolutionExplainer

    panel = ConvolutionExplainer()
    qtbot.addWidget(panel)
    panel.n_spin.setValue(7)
    panel.f_spin.setValue(3)
    panel.p_spin.setValue(0)
    panel.s_spin.setValue(1)
    panel.d_spin.setValue(2)
    panel.op_combo.setCurrentText("dilated convolution")
    assert panel.output.shape == (3, 3) and "= <b>3</b>" in panel.formula.text() and "5×5" in panel.formula.text()
    panel._show_window(0, 0)
    assert panel.input_grid.cells[:3] == [(0, 0), (0, 2), (0, 4)]
    panel.op_combo.setCurrentText("transposed convolution")
    panel.s_spin.setValue(2)
    assert panel.output.shape == (17, 17) and "<b>17</b>" in panel.formula.text()  # (7-1)*2 + 2*2 + 1
    panel.op_combo.setCurrentText("1x1 convolution")
    assert panel.output.shape == (7, 7) and "size kept" in panel.formula.text()
    panel.op_combo.setCurrentText("max pooling")
    panel.f_spin.setValue(2)
    assert panel.output.shape == (3, 3) and "max pooling" in panel.formula.text()
