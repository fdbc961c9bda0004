"""COCO-style detection metrics: mAP@0.5, mAP@0.5:0.95, AP per class, precision-recall curves.

The same numbers as COCO's reference evaluation (``bbox``, area "all", 100 detections per
picture and class), computed from arrays:

- Boxes are ``(x1, y1, x2, y2)`` pixels with x2/y2 exclusive (width = x2 - x1, no +1), the
  convention of ``labels.py`` and of COCO's ``[x, y, w, h]``; IoU = intersection / union,
  0 when the union is empty.
- Per picture and class, predictions are taken by descending score (ties keep their
  order; at most ``MAX_DETECTIONS``); each takes the unmatched truth box of the same class
  with the highest IoU at or above the threshold (on equal IoU the later truth box, as the
  reference does), or is a false positive.
- Per class and IoU threshold (0.50, 0.55, ..., 0.95), the predictions of every picture
  are ranked by score; precision is made non-increasing from the right (the envelope) and
  read at 101 recall points 0, 0.01, ..., 1 (0 beyond the highest recall reached); AP is
  their mean. A class with truth boxes but no prediction has AP 0; a class with no truth
  box has AP NaN and is left out of the means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.core.errors import UserError

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
#: Predictions kept per picture and class, highest scores first (COCO's maxDets).
MAX_DETECTIONS = 100

Truth = tuple[np.ndarray, np.ndarray]
Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]


class MetricsInputError(UserError, ValueError):
    """Truths and predictions that do not fit together (counts, shapes, class ids)."""


@dataclass(frozen=True)
class DetectionMetrics:
    """COCO-style metrics of a detector on a set of pictures.

    ``map50`` / ``map50_95``: mean AP over the classes that have truth boxes, at IoU 0.5 /
    averaged over IoU 0.50:0.05:0.95, in 0..1 (NaN when no class has a truth box).
    ``ap50`` / ``ap50_95``: (C,) float64 per class, NaN for a class with no truth box.
    ``pr_curves``: per class at IoU 0.5, ``(recall (K,), precision (K,))`` float64 after
    each of the class's K ranked predictions, precision as its non-increasing envelope
    (what AP integrates); K = 0 for a class with no truth box or no prediction.
    ``classes``: the class names, index = class id.
    """

    map50: float
    map50_95: float
    ap50: np.ndarray
    ap50_95: np.ndarray
    pr_curves: tuple[tuple[np.ndarray, np.ndarray], ...]
    classes: tuple[str, ...]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N,4) with every box in ``b`` (M,4), x1,y1,x2,y2 pixels with
    exclusive x2/y2 -> (N, M) float64; 0 where the union is empty."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def match_predictions(truth_boxes: np.ndarray, pred_boxes: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """Greedy matching of one picture's predictions of one class, already ranked by score,
    to its truth boxes of that class: (T, M) int64, the index of the truth box prediction m
    found at threshold t, -1 for a false positive (see the module docstring for the rule)."""
    ious = box_iou(pred_boxes, truth_boxes)
    matched = np.full((len(thresholds), len(pred_boxes)), -1, np.int64)
    if not ious.size:
        return matched
    n_truth = ious.shape[1]
    for t, threshold in enumerate(thresholds):
        taken = np.zeros(n_truth, bool)
        # The reference compares with min(t, 1 - 1e-10) so that IoU 1 still matches at t=1.
        floor = min(float(threshold), 1 - 1e-10)
        for m in range(len(pred_boxes)):
            row = np.where(taken, -1.0, ious[m])
            best = row.max()
            if best < floor:
                continue
            g = n_truth - 1 - int(np.argmax(row[::-1]))  # the last of equal best IoUs
            taken[g] = True
            matched[t, m] = g
    return matched


def _average_precision(scores: np.ndarray, hits: np.ndarray, n_truth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AP per threshold (T,) of one class from its predictions' ``scores`` (K,) and
    ``hits`` (T, K) over all pictures, and the (recall, envelope precision) at IoU 0.5."""
    order = np.argsort(-scores, kind="mergesort")
    hits = hits[:, order]
    tp = np.cumsum(hits, axis=1, dtype=np.float64)
    fp = np.cumsum(~hits, axis=1, dtype=np.float64)
    recall = tp / n_truth
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).tiny)
    # Envelope: precision at recall r = best precision at any recall >= r.
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    ap = np.zeros(len(hits))
    for t in range(len(hits)):
        at = np.searchsorted(recall[t], RECALL_POINTS, side="left")
        sampled = np.zeros(len(RECALL_POINTS))
        valid = at < recall.shape[1]
        sampled[valid] = envelope[t, at[valid]]
        ap[t] = sampled.mean()
    return ap, recall[0], envelope[0]


def _check(truths: Sequence[Truth], predictions: Sequence[Prediction], n_classes: int) -> None:
    if len(truths) != len(predictions):
        raise MetricsInputError(f"{len(truths)} pictures of truth but {len(predictions)} of predictions", "give one entry per picture in both")
    for i, ((boxes, ids), (pboxes, scores, pids)) in enumerate(zip(truths, predictions)):
        if len(np.reshape(boxes, (-1, 4))) != len(np.ravel(ids)):
            raise MetricsInputError(f"picture {i}: {len(np.reshape(boxes, (-1, 4)))} truth boxes but {len(np.ravel(ids))} class ids")
        n = len(np.reshape(pboxes, (-1, 4)))
        if not n == len(np.ravel(scores)) == len(np.ravel(pids)):
            raise MetricsInputError(f"picture {i}: {n} predicted boxes, {len(np.ravel(scores))} scores and {len(np.ravel(pids))} class ids")
        for what, values in (("truth", ids), ("predicted", pids)):
            values = np.ravel(values)
            if values.size and (values.min() < 0 or values.max() >= n_classes):
                raise MetricsInputError(f"picture {i}: {what} class id {int(values.max() if values.max() >= n_classes else values.min())} is not one of the {n_classes} classes")


def evaluate_detections(truths: Sequence[Truth], predictions: Sequence[Prediction], classes: Sequence[str]) -> DetectionMetrics:
    """COCO-style metrics of ``predictions`` against ``truths``.

    ``truths``: per picture ``(boxes (N,4), class_ids (N,))``; ``predictions``: per picture
    (same order) ``(boxes (M,4), scores (M,), class_ids (M,))``; boxes x1,y1,x2,y2 pixels of
    that picture. ``classes``: the names, index = class id. Raises ``MetricsInputError``
    when the counts or class ids do not fit.
    """
    classes = tuple(str(c) for c in classes)
    _check(truths, predictions, len(classes))
    n_classes, n_t = len(classes), len(IOU_THRESHOLDS)
    n_truth = np.zeros(n_classes, np.int64)
    scores: list[list[np.ndarray]] = [[] for _ in classes]
    hits: list[list[np.ndarray]] = [[] for _ in classes]
    for (tboxes, tids), (pboxes, pscores, pids) in zip(truths, predictions):
        tboxes = np.asarray(tboxes, np.float64).reshape(-1, 4)
        tids = np.asarray(tids, np.int64).reshape(-1)
        pboxes = np.asarray(pboxes, np.float64).reshape(-1, 4)
        pscores = np.asarray(pscores, np.float64).reshape(-1)
        pids = np.asarray(pids, np.int64).reshape(-1)
        for c in set(tids.tolist()) | set(pids.tolist()):
            truth_c = tboxes[tids == c]
            n_truth[c] += len(truth_c)
            mine = np.flatnonzero(pids == c)
            mine = mine[np.argsort(-pscores[mine], kind="mergesort")][:MAX_DETECTIONS]
            scores[c].append(pscores[mine])
            hits[c].append(match_predictions(truth_c, pboxes[mine]) >= 0)
    ap = np.full((n_classes, n_t), np.nan)
    curves: list[tuple[np.ndarray, np.ndarray]] = []
    for c in range(n_classes):
        if n_truth[c] == 0:
            curves.append((np.zeros(0), np.zeros(0)))
            continue
        class_scores = np.concatenate(scores[c]) if scores[c] else np.zeros(0)
        class_hits = np.concatenate(hits[c], axis=1) if hits[c] else np.zeros((n_t, 0), bool)
        ap[c], recall, precision = _average_precision(class_scores, class_hits, int(n_truth[c]))
        curves.append((recall, precision))
    ap50, ap50_95 = ap[:, 0], ap.mean(axis=1)
    has_truth = n_truth > 0
    return DetectionMetrics(
        map50=float(ap50[has_truth].mean()) if has_truth.any() else float("nan"),
        map50_95=float(ap50_95[has_truth].mean()) if has_truth.any() else float("nan"),
        ap50=ap50,
        ap50_95=ap50_95,
        pr_curves=tuple(curves),
        classes=classes,
    )
