"""COCO-style detection metrics, checked against pycocotools' COCOeval (the reference)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from engine.features.teach.detection.metrics import MetricsInputError, box_iou, evaluate_detections

CLASSES = ("cat", "dog", "bird", "unicorn")  # "unicorn": never in the truth (AP NaN)


def _scene(rng, n_images=8):
    """Random truths (classes 0..2) and predictions around them: jittered copies (some
    good, some poor), duplicates, crowded overlapping groups, false positives of every
    class including one with no truth, and one picture with no prediction at all."""
    truths, preds = [], []
    for i in range(n_images):
        n = int(rng.integers(0, 9))
        xy = rng.uniform(0, 400, (n, 2))
        if n >= 4:  # a crowd: several boxes overlapping the first one
            xy[1:4] = xy[0] + rng.uniform(-15, 15, (3, 2))
        wh = rng.uniform(8, 120, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        ids = rng.integers(0, 3, n)
        truths.append((boxes.astype(np.float32), ids))
        if i == 2:
            preds.append((np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)))
            continue
        pb, ps, pc = [], [], []
        for box, c in zip(boxes, ids):
            for _ in range(int(rng.integers(0, 3))):  # missed, found, or found twice
                size = box[2:] - box[:2]
                jitter = rng.normal(0, rng.choice([0.03, 0.15]), 4) * np.concatenate([size, size])
                pb.append(box + jitter)
                ps.append(rng.uniform(0.05, 1))
                pc.append(c if rng.uniform() > 0.1 else rng.integers(0, 4))
        for _ in range(int(rng.integers(0, 5))):
            xy0 = rng.uniform(0, 400, 2)
            pb.append(np.concatenate([xy0, xy0 + rng.uniform(8, 100, 2)]))
            ps.append(rng.uniform(0.05, 1))
            pc.append(rng.integers(0, 4))
        preds.append((np.array(pb, np.float32).reshape(-1, 4), np.array(ps), np.array(pc, int)))
    return truths, preds


def _coco_stats(truths, preds, n_classes):
    """COCOeval's bbox stats for the same pictures: boxes as [x, y, w, h] (w = x2 - x1)."""
    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    gt = {"images": [{"id": i + 1, "width": 600, "height": 600} for i in range(len(truths))],
          "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)], "annotations": []}
    for i, (boxes, ids) in enumerate(truths):
        for b, c in zip(boxes, ids):
            w, h = xywh(b)[2:]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                                      "bbox": xywh(b), "area": w * h, "iscrowd": 0})
    results = [{"image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b), "score": float(s)}
               for i, (boxes, scores, ids) in enumerate(preds) for b, s, c in zip(boxes, scores, ids)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # Per class AP at 0.5 from the accumulated precision (T, R, K, A, M): area all, 100 dets.
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    per_class = np.array([np.nan if (precision[0, :, k] < 0).all() else precision[0, :, k].mean() for k in range(n_classes)])
    return evaluator.stats, per_class


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_map_equals_cocoeval(seed):
    truths, preds = _scene(np.random.default_rng(seed))
    metrics = evaluate_detections(truths, preds, CLASSES)
    stats, per_class = _coco_stats(truths, preds, len(CLASSES))
    assert 0.05 < metrics.map50 < 0.95  # neither trivial nor perfect: the comparison means something
    assert metrics.map50 == pytest.approx(stats[1], abs=1e-6)
    assert metrics.map50_95 == pytest.approx(stats[0], abs=1e-6)
    np.testing.assert_allclose(metrics.ap50, per_class, atol=1e-6)  # NaN where COCO has -1
    assert np.isnan(metrics.ap50[3]) and np.isnan(metrics.ap50_95[3])
    assert metrics.classes == CLASSES


def test_perfect_and_empty_predictions():
    truths, _ = _scene(np.random.default_rng(7))
    perfect = [(b, np.ones(len(b)), c) for b, c in truths]
    m = evaluate_detections(truths, perfect, CLASSES)
    assert m.map50 == pytest.approx(1.0) and m.map50_95 == pytest.approx(1.0)
    none = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)) for _ in truths]
    m = evaluate_detections(truths, none, CLASSES)
    assert m.map50 == 0.0 and np.all(m.ap50[:3] == 0) and all(len(r) == 0 for r, _ in m.pr_curves)


def test_pr_curve_is_the_envelope_the_ap_integrates():
    truths, preds = _scene(np.random.default_rng(1))
    m = evaluate_detections(truths, preds, CLASSES)
    for c in range(3):
        recall, precision = m.pr_curves[c]
        assert len(recall) == len(precision) > 0
        assert np.all(np.diff(recall) >= 0) and np.all(np.diff(precision) <= 1e-12)
        points = np.linspace(0, 1, 101)
        at = np.searchsorted(recall, points, side="left")
        sampled = np.where(at < len(recall), precision[np.minimum(at, len(recall) - 1)], 0)
        assert sampled.mean() == pytest.approx(m.ap50[c])


def test_iou_uses_exclusive_edges():
    # 10x10 and a 5x10 half of it: IoU 0.5 exactly (no +1 on widths).
    assert box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 5, 10]]))[0, 0] == pytest.approx(0.5)
    assert box_iou(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 0, 0]]))[0, 0] == 0


def test_inputs_that_do_not_fit_are_named():
    box = np.array([[0, 0, 10, 10]], np.float32)
    with pytest.raises(MetricsInputError, match="class id 5"):
        evaluate_detections([(box, np.array([5]))], [(box, np.ones(1), np.array([0]))], CLASSES)
    with pytest.raises(MetricsInputError, match="1 pictures of truth but 2"):
        evaluate_detections([(box, np.array([0]))], [(box, np.ones(1), np.array([0]))] * 2, CLASSES)


def test_only_the_best_100_predictions_per_picture_and_class_count():
    rng = np.random.default_rng(11)
    truths, preds = [], []
    for _ in range(3):
        xy = rng.uniform(0, 500, (40, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 40, (40, 2))], axis=1)
        truths.append((boxes, np.zeros(40, int)))
        pb = np.repeat(boxes, 4, axis=0) + rng.normal(0, 2, (160, 4))  # 160 > 100 of class 0
        preds.append((pb, rng.uniform(0, 1, 160), np.zeros(160, int)))
    metrics = evaluate_detections(truths, preds, CLASSES[:1])
    stats, _ = _coco_stats(truths, preds, 1)
    assert metrics.map50 == pytest.approx(stats[1], abs=1e-6)
    assert metrics.map50_95 == pytest.approx(stats[0], abs=1e-6)
