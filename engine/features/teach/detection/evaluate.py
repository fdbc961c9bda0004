"""Evaluate a detector on labelled pictures: COCO-style metrics plus, per picture, which
truth boxes it missed and which of its boxes were wrong, so the worst pictures can be shown.

Boxes are ``(x1, y1, x2, y2)`` float pixels of the picture as stored (top-left origin,
exclusive x2/y2), as in ``labels.py``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.core.errors import Cancelled, UserError
from engine.features.teach.detection.labels import DetectionDataset, LabelledImage
from engine.features.teach.detection.metrics import DetectionMetrics, evaluate_detections, match_predictions
from engine.io.images import read_image

Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

#: Predictions at or above this score count as "shown" when a picture's misses and false
#: positives are counted (mAP uses every prediction, whatever its score).
SCORE_THRESHOLD = 0.3
#: IoU at which a shown prediction counts as finding a truth box of its class.
MATCH_IOU = 0.5


@dataclass(frozen=True)
class ImageResult:
    """One picture: its truth, the detector's predictions and how they matched.

    ``truth_boxes`` (N,4) float32, ``truth_ids`` (N,) int64; ``pred_boxes`` (M,4) float32,
    ``pred_scores`` (M,) float32, ``pred_ids`` (M,) int64, every prediction, highest score
    first. ``truth_found`` (N,) bool: found by a prediction scoring at least the
    evaluation's ``score_threshold`` at IoU ``MATCH_IOU``; ``pred_correct`` (M,) bool: such a
    prediction found a truth box (False for those under the threshold).
    """

    image_path: Path
    width: int
    height: int
    truth_boxes: np.ndarray
    truth_ids: np.ndarray
    pred_boxes: np.ndarray
    pred_scores: np.ndarray
    pred_ids: np.ndarray
    truth_found: np.ndarray
    pred_correct: np.ndarray
    shown: np.ndarray  # (M,) bool: score >= the evaluation's score_threshold

    @property
    def missed(self) -> int:
        """Truth boxes no shown prediction found."""
        return int((~self.truth_found).sum())

    @property
    def false_positives(self) -> int:
        """Shown predictions that found no truth box (wrong place, wrong class or a duplicate)."""
        return int((self.shown & ~self.pred_correct).sum())


@dataclass(frozen=True)
class DetectionEvaluation:
    """The metrics over all pictures, each picture's result (dataset order), the score
    threshold the per-picture counts use, and the pictures that could not be read
    (path, reason), which are left out of everything."""

    metrics: DetectionMetrics
    images: tuple[ImageResult, ...]
    score_threshold: float = SCORE_THRESHOLD
    skipped: tuple[tuple[Path, str], ...] = ()

    @property
    def missed(self) -> int:
        return sum(r.missed for r in self.images)

    @property
    def false_positives(self) -> int:
        return sum(r.false_positives for r in self.images)

    @property
    def truth_count(self) -> int:
        return sum(len(r.truth_ids) for r in self.images)

    def worst(self, k: int = 8) -> tuple[ImageResult, ...]:
        """Up to ``k`` pictures with the most missed truth boxes, then the most false
        positives (then dataset order); pictures without either are not listed."""
        bad = [(-r.missed, -r.false_positives, i) for i, r in enumerate(self.images) if r.missed or r.false_positives]
        return tuple(self.images[i] for _, _, i in sorted(bad)[:max(k, 0)])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN -> None): mAPs, AP per class, counts, worst pictures."""
        def number(value: float) -> float | None:
            return None if math.isnan(value) else round(float(value), 6)

        m = self.metrics
        return {
            "map50": number(m.map50),
            "map50_95": number(m.map50_95),
            "classes": [{"name": name, "ap50": number(a), "ap50_95": number(b), "truth_boxes": int(n)}
                        for name, a, b, n in zip(m.classes, m.ap50, m.ap50_95, self.truth_per_class())],
            "pictures": len(self.images),
            "truth_boxes": self.truth_count,
            "score_threshold": self.score_threshold,
            "missed": self.missed,
            "false_positives": self.false_positives,
            "worst": [{"image": str(r.image_path), "missed": r.missed, "false_positives": r.false_positives}
                      for r in self.worst()],
            "skipped": [{"image": str(p), "reason": why} for p, why in self.skipped],
        }

    def truth_per_class(self) -> np.ndarray:
        """(C,) int64: truth boxes of each class over the evaluated pictures."""
        counts = np.zeros(len(self.metrics.classes), np.int64)
        for r in self.images:
            np.add.at(counts, r.truth_ids, 1)
        return counts


def match_image(item: LabelledImage, boxes: np.ndarray, scores: np.ndarray, ids: np.ndarray,
                score_threshold: float = SCORE_THRESHOLD) -> ImageResult:
    """One picture's result: predictions sorted by score, the shown ones matched per class
    to the truth at IoU ``MATCH_IOU`` (the metrics' greedy rule)."""
    order = np.argsort(-scores, kind="mergesort")
    boxes, scores, ids = boxes[order], scores[order], ids[order]
    shown = scores >= score_threshold
    found = np.zeros(len(item.class_ids), bool)
    correct = np.zeros(len(ids), bool)
    for c in set(item.class_ids.tolist()) & set(ids[shown].tolist()):
        truth_index = np.flatnonzero(item.class_ids == c)
        pred_index = np.flatnonzero(shown & (ids == c))
        taken = match_predictions(item.boxes[truth_index], boxes[pred_index], np.array([MATCH_IOU]))[0]
        correct[pred_index[taken >= 0]] = True
        found[truth_index[taken[taken >= 0]]] = True
    return ImageResult(item.image_path, item.width, item.height, item.boxes, item.class_ids,
                       boxes, scores, ids, found, correct, shown)


def _as_prediction(output: Any, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        boxes, scores, ids = output
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        ids = np.asarray(ids, np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: the detector's output is not (boxes (M,4), scores (M,), class ids (M,))", str(exc)) from None
    if not len(boxes) == len(scores) == len(ids):
        raise UserError(f"{path}: the detector gave {len(boxes)} boxes, {len(scores)} scores and {len(ids)} class ids")
    return boxes, scores, ids


def evaluate_detector(predict: Predict, dataset: DetectionDataset, *,
                      progress: Callable[[int, int], None] | None = None,
                      cancel: threading.Event | None = None,
                      score_threshold: float = SCORE_THRESHOLD,
                      load: Callable[[Path], np.ndarray] | None = None) -> DetectionEvaluation:
    """Run ``predict`` on every picture of ``dataset`` and score it.

    ``predict(image_bgr uint8 (H,W,3)) -> (boxes (M,4), scores (M,), class_ids (M,))`` in
    that picture's pixels. ``progress(done, total)`` is called after each picture (from
    the calling thread); ``cancel`` set -> raises ``Cancelled``. ``load(path)`` reads a
    picture as BGR uint8 (default: ``engine.io.images.read_image``); one that cannot be
    read is skipped and named in ``skipped``, never fatal.
    """
    load = load or read_image
    truths, predictions, results, skipped = [], [], [], []
    total = len(dataset.images)
    for done, item in enumerate(dataset.images, 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        try:
            image = load(item.image_path)
        except UserError as exc:
            skipped.append((item.image_path, exc.what or str(exc)))
        else:
            boxes, scores, ids = _as_prediction(predict(image), item.image_path)
            truths.append((item.boxes, item.class_ids))
            predictions.append((boxes, scores, ids))
            results.append(match_image(item, boxes, scores, ids, score_threshold))
        if progress is not None:
            progress(done, total)
    metrics = evaluate_detections(truths, predictions, dataset.classes)
    return DetectionEvaluation(metrics, tuple(results), score_threshold, tuple(skipped))
