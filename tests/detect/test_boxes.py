"""IoU and class-wise NMS on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.core.boxes import box_iou, class_nms, cxcywh_to_xyxy


def test_iou_hand_computed():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 5, 15, 15],     # overlap 5x5=25, union 100+100-25=175
                  [0, 0, 10, 10],     # identical
                  [10, 0, 20, 10],    # touching edge: no area in common
                  [2, 2, 4, 4],       # inside: 4 / 100
                  [3, 3, 3, 8]], np.float32)  # zero area
    iou = box_iou(a, b)[0]
    np.testing.assert_allclose(iou, [25 / 175, 1.0, 0.0, 0.04, 0.0], rtol=1e-6)


def test_iou_is_symmetric_and_pairwise():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 50, (6, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 30, (6, 2))], axis=1)
    iou = box_iou(boxes, boxes[:4])
    assert iou.shape == (6, 4)
    np.testing.assert_allclose(iou[:4], iou[:4].T)
    np.testing.assert_allclose(np.diag(iou[:4]), 1.0)


def test_cxcywh_to_xyxy():
    out = cxcywh_to_xyxy(torch.tensor([[10.0, 20.0, 4.0, 6.0]]))
    assert out.tolist() == [[8.0, 17.0, 12.0, 23.0]]


def test_nms_is_per_class_and_uses_a_strict_threshold():
    boxes = torch.tensor([[0, 0, 10, 10],      # 0: best of class 0
                          [1, 0, 11, 10],      # 1: IoU 90/110=0.818 with 0, class 0 -> dropped
                          [1, 0, 11, 10],      # 2: same box but class 1 -> kept
                          [5, 0, 15, 10],      # 3: IoU 50/150=1/3 with 0 -> kept
                          [20, 20, 30, 30]],   # 4: far away -> kept
                         dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    classes = torch.tensor([0, 0, 1, 0, 0])
    keep = class_nms(boxes, scores, classes, iou_threshold=0.45)
    assert keep.tolist() == [0, 2, 3, 4]  # highest score first
    # IoU exactly 1/3 is not *greater* than a 1/3 threshold: box 3 survives.
    keep = class_nms(boxes, scores, classes, iou_threshold=1 / 3 + 1e-6)
    assert 3 in keep.tolist()
    keep = class_nms(boxes, scores, classes, iou_threshold=0.3)
    assert keep.tolist() == [0, 2, 4]


def test_nms_limits_and_empty():
    assert class_nms(torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).numel() == 0
    boxes = torch.tensor([[i * 20.0, 0, i * 20.0 + 10, 10] for i in range(5)])
    keep = class_nms(boxes, torch.linspace(0.9, 0.5, 5), torch.zeros(5, dtype=torch.long), 0.5, max_detections=2)
    assert keep.tolist() == [0, 1]


@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0])
def test_nms_keeps_best_box(threshold):
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=torch.float32)
    keep = class_nms(boxes, torch.tensor([0.3, 0.6]), torch.tensor([2, 2]), threshold)
    assert keep.tolist()[0] == 1
