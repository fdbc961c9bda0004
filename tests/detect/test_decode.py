"""YOLO decoding on hand-computed grids (the course's 3x3 example and friends)."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.features.detect.backends.darknet.decode import YoloDecoder
from engine.features.detect.backends.darknet.model import YoloHeadSpec


def head(anchors, classes=2, scale=1.0, new_coords=False, stride=32):
    a = np.asarray(anchors, np.float32).reshape(-1, 2)
    return YoloHeadSpec(layer_index=1, anchors=a, mask=tuple(range(len(a))), num_classes=classes,
                        scale_x_y=scale, new_coords=new_coords, stride=stride)


def logit(p):
    return math.log(p / (1 - p))


def raw_output(spec, gh, gw, cells):
    """(1, A*(5+C), gh, gw) logits, very negative except ``cells``:
    {(gx, gy, anchor): [tx, ty, tw, th, to, tc...]}."""
    k = 5 + spec.num_classes
    raw = torch.full((1, spec.num_anchors * k, gh, gw), -20.0)
    raw[:, 0::k] = 0.0  # neutral box values elsewhere
    for (gx, gy, a), values in cells.items():
        raw[0, a * k:(a + 1) * k, gy, gx] = torch.tensor(values)
    return raw


def test_three_by_three_grid_one_object():
    # 96x96 input, 3x3 grid (stride 32); anchor 32x64. The object sits in cell (1, 2).
    spec = head([[32, 64]])
    raw = raw_output(spec, 3, 3, {(1, 2, 0): [0.0, logit(0.25), math.log(2.0), 0.0, logit(0.9), logit(0.8), logit(0.1)]})
    decoder = YoloDecoder((spec,))
    rows = decoder.rows([raw], (96, 96))[0]
    assert rows.shape == (9, 7)
    # Row order: gy, gx, anchor -> cell (gx=1, gy=2) is row 2*3+1 = 7.
    r = rows[7].tolist()
    assert math.isclose(r[0], (1 + 0.5) / 3, rel_tol=1e-6)     # cx: sigmoid(0) = 0.5 into the cell
    assert math.isclose(r[1], (2 + 0.25) / 3, rel_tol=1e-6)    # cy
    assert math.isclose(r[2], 2 * 32 / 96, rel_tol=1e-6)       # w = exp(log 2) * anchor_w / input_w
    assert math.isclose(r[3], 64 / 96, rel_tol=1e-6)           # h = exp(0) * anchor_h / input_h
    assert math.isclose(r[4], 0.9, rel_tol=1e-6)               # objectness
    assert math.isclose(r[5], 0.8, rel_tol=1e-6) and math.isclose(r[6], 0.1, rel_tol=1e-5)
    # Every other cell has objectness ~0.
    others = torch.cat([rows[:7, 4], rows[8:, 4]])
    assert float(others.max()) < 1e-6
    # Provenance of row 7: head 0, grid_x 1, grid_y 2, anchor 0.
    assert decoder.provenance(torch.tensor([7]), [(3, 3)]).tolist() == [[0, 1, 2, 0]]


def test_two_anchors_non_square_grid_and_scale_x_y():
    # 128x64 input (w x h) -> grid 4 wide, 2 high; two anchors; scale_x_y = 2.
    spec = head([[10, 20], [40, 30]], classes=1, scale=2.0)
    raw = raw_output(spec, 2, 4, {(3, 1, 1): [logit(0.75), logit(0.5), 0.0, math.log(0.5), 3.0, 1.0]})
    decoder = YoloDecoder((spec,))
    rows = decoder.rows([raw], (64, 128))[0]
    index = (1 * 4 + 3) * 2 + 1  # (gy * cols + gx) * anchors + anchor
    r = rows[index].tolist()
    assert math.isclose(r[0], (3 + (0.75 - 0.5) * 2 + 0.5) / 4, rel_tol=1e-6)  # 1.0 -> right edge of the input
    assert math.isclose(r[1], (1 + 0.5) / 2, rel_tol=1e-6)
    assert math.isclose(r[2], 40 / 128, rel_tol=1e-6)
    assert math.isclose(r[3], 0.5 * 30 / 64, rel_tol=1e-6)
    assert decoder.provenance(torch.tensor([index]), [(2, 4)]).tolist() == [[0, 3, 1, 1]]


def test_new_coords_uses_values_as_they_are():
    # YOLOv4-CSP / v7: the conv ends in a logistic; w = 4 * t^2 * anchor.
    spec = head([[16, 16]], classes=1, scale=2.0, new_coords=True)
    k = 6
    raw = torch.zeros((1, k, 2, 2))
    raw[0, :, 0, 1] = torch.tensor([0.5, 0.9, 0.25, 1.0, 0.7, 0.6])
    rows = YoloDecoder((spec,)).rows([raw], (64, 64))[0]
    r = rows[1].tolist()  # gy=0, gx=1
    assert math.isclose(r[0], (1 + 0.5) / 2, rel_tol=1e-6)
    assert math.isclose(r[1], (0 + (0.9 - 0.5) * 2 + 0.5) / 2, rel_tol=1e-6)
    assert math.isclose(r[2], 4 * 0.25 ** 2 * 16 / 64, rel_tol=1e-6)
    assert math.isclose(r[3], 4 * 1.0 * 16 / 64, rel_tol=1e-6)
    assert math.isclose(r[4], 0.7, rel_tol=1e-6) and math.isclose(r[5], 0.6, rel_tol=1e-6)


def test_two_heads_rows_are_concatenated_in_head_order():
    coarse, fine = head([[30, 30]], classes=1), head([[10, 10]], classes=1, stride=16)
    a = raw_output(coarse, 2, 2, {(1, 1, 0): [0, 0, 0, 0, 5.0, 5.0]})
    b = raw_output(fine, 4, 4, {(0, 3, 0): [0, 0, 0, 0, 5.0, 5.0]})
    decoder = YoloDecoder((coarse, fine))
    rows = decoder.rows([a, b], (64, 64))[0]
    assert rows.shape[0] == 4 + 16
    hot = torch.nonzero(rows[:, 4] > 0.5).squeeze(1)
    assert hot.tolist() == [3, 4 + 12]
    assert decoder.provenance(hot, [(2, 2), (4, 4)]).tolist() == [[0, 1, 1, 0], [1, 0, 3, 0]]
