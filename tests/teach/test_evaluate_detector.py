"""evaluate_detector: metrics, per-picture misses and false positives, worst pictures,
progress, cancel, unreadable pictures; with a detector that answers from the labels."""

from __future__ import annotations

import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest

from engine.core.errors import Cancelled
from engine.features.teach.detection.evaluate import evaluate_detector, match_image
from engine.features.teach.detection.labels import LabelledImage
from engine.features.teach.detection.scenes import scenes_dataset


class LabelReader:
    """A "detector" that knows each picture's labels (looked up by its pixels) and can be
    told to miss boxes or add wrong ones on given pictures."""

    def __init__(self, dataset, miss=None, extra=None):
        self.truth = {cv2.imread(str(item.image_path)).tobytes(): (i, item) for i, item in enumerate(dataset.images)}
        self.miss = miss or {}    # picture index -> how many truth boxes to leave out
        self.extra = extra or {}  # picture index -> how many wrong boxes to add

    def __call__(self, image):
        i, item = self.truth[image.tobytes()]
        keep = len(item.boxes) - self.miss.get(i, 0)
        boxes, ids = item.boxes[:keep], item.class_ids[:keep]
        scores = np.linspace(0.9, 0.6, len(boxes))
        for k in range(self.extra.get(i, 0)):  # far from every object: in the corner, scored low
            boxes = np.vstack([boxes, [[k, 0, k + 3, 3]]])
            scores = np.append(scores, 0.5)
            ids = np.append(ids, 0)
        return boxes, scores, ids


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return scenes_dataset(tmp_path_factory.mktemp("scenes"), count=10, seed=4)


def test_perfect_detector_scores_one(dataset):
    done = []
    ev = evaluate_detector(LabelReader(dataset), dataset, progress=lambda d, t: done.append((d, t)))
    assert ev.metrics.map50 == pytest.approx(1) and ev.metrics.map50_95 == pytest.approx(1)
    assert done == [(i, 10) for i in range(1, 11)]
    assert ev.missed == 0 and ev.false_positives == 0 and ev.worst() == ()
    assert ev.truth_count == dataset.box_count


def test_worst_lists_most_misses_then_most_false_positives(dataset):
    many = [i for i, item in enumerate(dataset.images) if len(item.boxes) >= 2][:2]
    assert len(many) == 2
    detector = LabelReader(dataset, miss={many[0]: 1, many[1]: 2}, extra={0: 3, 5: 1})
    ev = evaluate_detector(detector, dataset)
    worst = ev.worst(3)
    assert [r.image_path for r in worst[:2]] == [dataset.images[many[1]].image_path, dataset.images[many[0]].image_path]
    assert (worst[0].missed, worst[1].missed) == (2, 1)
    fp_only = [i for i in (0, 5) if i not in many]
    assert worst[2].image_path == dataset.images[fp_only[0]].image_path and worst[2].missed == 0
    assert ev.missed == 3 and ev.false_positives == 4
    assert ev.metrics.map50 < 1
    # The missed boxes are the ones left out (the last ones), the wrong boxes are flagged.
    r = worst[0]
    assert r.truth_found.tolist() == [True] * (len(r.truth_ids) - 2) + [False, False]
    summary = ev.as_dict()
    assert summary["missed"] == 3 and summary["worst"][0]["missed"] == 2
    assert [c["name"] for c in summary["classes"]] == list(dataset.classes)


def test_low_scores_count_for_map_but_not_as_shown(dataset):
    item = dataset.images[0]
    low = match_image(item, item.boxes, np.full(len(item.boxes), 0.1, np.float32), item.class_ids, score_threshold=0.3)
    assert low.missed == len(item.boxes) and low.false_positives == 0


def test_a_duplicate_and_a_wrong_class_are_false_positives():
    item = LabelledImage("x.png", 100, 100, np.array([[10, 10, 50, 50]]), np.array([0]))
    boxes = np.array([[10, 10, 50, 50], [11, 10, 50, 51], [10, 10, 50, 50]], np.float32)
    r = match_image(item, boxes, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 0, 1]))
    assert r.truth_found.tolist() == [True]
    assert r.pred_correct.tolist() == [True, False, False] and r.false_positives == 2


def test_cancel_and_unreadable_pictures(dataset, tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        evaluate_detector(LabelReader(dataset), dataset, cancel=cancel)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    bad = LabelledImage(broken, 10, 10, np.array([[0, 0, 5, 5]]), np.array([0]))
    ev = evaluate_detector(LabelReader(dataset), replace(dataset, images=dataset.images + (bad,)))
    assert [p for p, _ in ev.skipped] == [broken] and len(ev.images) == 10
    assert ev.metrics.map50 == pytest.approx(1)
