"""Our Darknet implementation against OpenCV's Darknet importer on the official cfgs.

Same cfg, same (random, calibrated) weights, same image, same input size. Compared:
1. the input blob (resize + RGB + /255) with cv2.dnn.blobFromImage;
2. every decoded row (box, objectness, objectness x class probability);
3. the final detections after thresholding and class-wise NMS, where OpenCV's rows go
   through the usual OpenCV post-processing (argmax class, score > conf,
   NMSBoxesBatched): same classes, IoU > 0.99, scores within 1e-3.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.core.boxes import box_iou
from engine.features.detect.backends.darknet.detector import YoloDetector

CONF, NMS_IOU = 0.25, 0.45
# Scores this close to the threshold may legitimately fall on either side of it.
BORDER = 2e-3
# OpenCV's region layer zeroes objectness x class probability at or below this (cfg default).
OPENCV_REGION_THRESH = 0.2


def opencv_rows(cfg, weights, image, size):
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    blob = cv2.dnn.blobFromImage(image, 1 / 255.0, size, swapRB=True, crop=False)
    net.setInput(blob)
    outs = net.forward(net.getUnconnectedOutLayersNames())
    return blob, np.concatenate(outs, axis=0)


def to_frame_xyxy(rows, frame_w, frame_h):
    cx, cy, w, h = rows[:, 0] * frame_w, rows[:, 1] * frame_h, rows[:, 2] * frame_w, rows[:, 3] * frame_h
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def ambiguous_boxes(rows, scores, frame_w, frame_h):
    """Boxes of rows whose best two classes are within BORDER of each other above the
    threshold: the class (hence the NMS group) may differ on a 1e-4 difference."""
    top2 = np.sort(scores, axis=1)[:, -2:]
    tie = (top2[:, 1] > CONF) & (top2[:, 1] - top2[:, 0] < BORDER)
    return to_frame_xyxy(rows[tie], frame_w, frame_h)


def opencv_detections(rows, frame_w, frame_h):
    """The standard OpenCV post-processing of Darknet outputs (object_detection.py)."""
    probs = rows[:, 5:]
    class_ids = probs.argmax(axis=1)
    scores = probs.max(axis=1)
    keep = scores > CONF
    rows, class_ids, scores = rows[keep], class_ids[keep], scores[keep]
    cx, cy, w, h = rows[:, 0] * frame_w, rows[:, 1] * frame_h, rows[:, 2] * frame_w, rows[:, 3] * frame_h
    xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    idx = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), class_ids.tolist(), CONF, NMS_IOU)
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    boxes = np.stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]], axis=1)[idx]
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, frame_w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, frame_h)
    return boxes, scores[idx], class_ids[idx]


def check_equivalence(cfg, weights, image, size):
    width, height = size
    detector = YoloDetector.from_files(cfg, weights, input_size=size, conf_threshold=CONF,
                                       iou_threshold=NMS_IOU, device="cpu")
    blob, cv_rows = opencv_rows(cfg, weights, image, size)

    # 1. preprocessing: identical input tensors
    ours_input, _ = detector._preprocessor()(image)
    np.testing.assert_allclose(ours_input.numpy(), blob, atol=1e-6)

    # 2. decoded rows
    rows, _ = detector.rows(image)
    assert rows.shape == cv_rows.shape
    np.testing.assert_allclose(rows[:, :2], cv_rows[:, :2], atol=2e-4)      # centres (normalised)
    np.testing.assert_allclose(rows[:, 2:4], cv_rows[:, 2:4], rtol=2e-3, atol=2e-4)  # sizes
    np.testing.assert_allclose(rows[:, 4], cv_rows[:, 4], atol=1e-3)        # objectness
    ours_scores = rows[:, 4:5] * rows[:, 5:]
    clear = np.abs(ours_scores - OPENCV_REGION_THRESH) > BORDER
    expected = np.where(ours_scores > OPENCV_REGION_THRESH, ours_scores, 0.0)
    np.testing.assert_allclose(expected[clear], cv_rows[:, 5:][clear], atol=1e-3)

    # The random weights must make the comparison meaningful: some rows pass, most do not.
    passing = (ours_scores.max(axis=1) > CONF).mean()
    assert 0.002 < passing < 0.5, f"{passing:.1%} of rows pass the threshold"
    assert np.ptp(rows[:, 2]) > 0.05, "box widths do not vary"

    # 3. final detections
    frame_h, frame_w = image.shape[:2]
    cv_boxes, cv_scores, cv_classes = opencv_detections(cv_rows, frame_w, frame_h)
    ours = detector.detect(image)
    assert len(cv_scores) >= 5, "too few detections for a meaningful comparison"
    skip = np.concatenate([ambiguous_boxes(rows, ours_scores, frame_w, frame_h),
                           ambiguous_boxes(cv_rows, cv_rows[:, 5:], frame_w, frame_h)])
    _match(ours.boxes, ours.scores, ours.class_ids, cv_boxes, cv_scores, cv_classes, "OpenCV", skip)
    _match(cv_boxes, cv_scores, cv_classes, ours.boxes, ours.scores, ours.class_ids, "ours", skip)
    # Each detection remembers a valid head / cell / anchor.
    assert ours.origins is not None and len(ours.origins) == len(ours)
    for head, gx, gy, anchor in ours.origins:
        grid = ours.grids[head]
        assert 0 <= gx < grid.cols and 0 <= gy < grid.rows and 0 <= anchor < len(grid.mask)
    return ours


def _match(boxes, scores, classes, ref_boxes, ref_scores, ref_classes, ref_name, skip):
    """Every reference detection not on the threshold border and not a class tie has a
    twin in (boxes, scores, classes)."""
    iou = box_iou(ref_boxes, boxes)
    tie = (box_iou(ref_boxes, skip) > 0.99).any(axis=1) if len(skip) else np.zeros(len(ref_boxes), bool)
    assert tie.mean() < 0.1, "too many class ties for a meaningful comparison"
    for i in range(len(ref_scores)):
        if abs(ref_scores[i] - CONF) < BORDER or tie[i]:
            continue
        same_class = classes == ref_classes[i]
        candidates = np.where(same_class, iou[i], -1.0)
        j = int(candidates.argmax()) if len(candidates) else -1
        # IoU is meaningless for sliver boxes clipped at the frame edge (a 0.4 px wide box
        # moves IoU by 1% for 0.004 px): there, all corners within 0.05 px count as equal.
        close = j >= 0 and np.abs(boxes[j] - ref_boxes[i]).max() < 0.05
        assert j >= 0 and (candidates[j] > 0.99 or close), (
            f"{ref_name} detection {i} (class {ref_classes[i]}, score {ref_scores[i]:.4f}, box "
            f"{np.round(ref_boxes[i], 1)}) has no match (best IoU {candidates.max() if len(candidates) else 0:.3f})")
        assert abs(scores[j] - ref_scores[i]) < 1e-3


@pytest.mark.parametrize("name", ["yolov3-tiny", "yolov4-tiny", "yolov7-tiny"])
@pytest.mark.parametrize("size", [(416, 416), (608, 352)], ids=["416x416", "608x352"])
def test_tiny_models_match_opencv(darknet_weights, street_image, name, size):
    cfg, weights = darknet_weights(name)
    check_equivalence(cfg, weights, street_image, size)


@pytest.mark.slow
@pytest.mark.parametrize("size", [(416, 416), (320, 512)], ids=["416x416", "320x512"])
def test_yolov4_matches_opencv(darknet_weights, street_image, size):
    cfg, weights = darknet_weights("yolov4")
    torch.manual_seed(0)
    check_equivalence(cfg, weights, street_image, size)
