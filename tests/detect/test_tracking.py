"""The tracker on synthetic scenes with known ground truth, scored with motmetrics."""

from __future__ import annotations

import motmetrics as mm  # noqa: E402  (a test dependency: missing, these tests fail rather than skip)
import numpy as np
import pytest

from engine.features.detect.association import iou_matrix, match
from engine.features.detect.synthetic_scenes import MovingObject, render_detections
from engine.features.detect.tracking import CONFIRMED, LOST, ByteTracker, TrackerConfig, kalman_init, kalman_predict, kalman_update

# Two objects that cross each other behind an occluder (hidden for 10 frames), one that
# enters late and leaves early, one that walks past the occluder's edge.
CROSSING = [
    MovingObject(1, 0, 0, 119, (100.0, 300.0), (8.0, 0.0)),
    MovingObject(2, 0, 0, 119, (1052.0, 312.0), (-8.0, 0.0)),
    MovingObject(3, 1, 10, 99, (200.0, 600.0), (6.0, -1.0)),
    MovingObject(4, 2, 30, 140, (760.0, 50.0), (0.0, 4.0)),
]
# x 536..616 at 8 px/frame: each of objects 1 and 2 is hidden for exactly 10 frames, and
# they pass each other in the middle of it.
OCCLUDER = (536.0, 200.0, 615.9, 420.0)


def score(frames, tracker: ByteTracker) -> dict:
    """MOTA, IDF1 and identity switches with motmetrics, on our own IoU distance
    (motmetrics' iou_matrix uses np.asfarray, gone in NumPy 2)."""
    acc = mm.MOTAccumulator(auto_id=True)
    for truth in frames:
        tracks = tracker.update(truth.det_boxes, truth.det_scores, truth.det_class_ids)
        iou = iou_matrix(truth.boxes, tracks.boxes)
        acc.update(truth.ids.tolist(), tracks.ids.tolist(), np.where(iou >= 0.5, 1.0 - iou, np.nan))
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches", "num_objects"], name="scene")
    return {k: float(summary[k].iloc[0]) for k in summary.columns}


def test_the_occluder_hides_both_crossing_objects_for_ten_frames():
    frames = render_detections(CROSSING, 150, occluders=(OCCLUDER,))
    hidden = [sum(1 for f in frames[:120] if oid not in f.ids.tolist()) for oid in (1, 2)]
    assert hidden == [10, 10]


def test_crossing_behind_an_occluder_keeps_identities():
    frames = render_detections(CROSSING, 150, occluders=(OCCLUDER,))
    result = score(frames, ByteTracker(TrackerConfig(track_buffer=30)))
    assert result["num_switches"] == 0
    assert result["mota"] >= 0.95 and result["idf1"] >= 0.95


def test_an_occlusion_longer_than_the_buffer_gives_a_new_id():
    frames = render_detections(CROSSING[:1], 120, occluders=(OCCLUDER,))
    tracker = ByteTracker(TrackerConfig(track_buffer=5))
    seen = set()
    for f in frames:
        seen.update(tracker.update(f.det_boxes, f.det_scores, f.det_class_ids).ids.tolist())
    assert len(seen) == 2  # the object hidden 10 frames came back as a new track


def test_noisy_scene_scores_at_least_095():
    extra = [MovingObject(10 + i, i % 3, 6 * i, 80 + 6 * i, (60.0 + 90 * i, 120.0), (2.0, 0.5)) for i in range(8)]
    frames = render_detections(CROSSING + extra, 160, occluders=(OCCLUDER,), jitter=3.0, miss_rate=0.05,
                               false_rate=0.02, seed=1)
    dets = sum(len(f.det_boxes) for f in frames)
    false = sum(int((f.det_truth < 0).sum()) for f in frames)
    truth = sum(len(f.ids) for f in frames)
    assert 0.01 <= false / dets <= 0.04 and 0.92 <= (dets - false) / truth <= 0.98  # the noise is what we say
    result = score(frames, ByteTracker())
    assert result["num_switches"] == 0
    assert result["mota"] >= 0.95, result
    assert result["idf1"] >= 0.95, result


def test_output_is_plain_data_with_velocity_age_and_trail():
    frames = render_detections(CROSSING[:1], 20)
    tracker = ByteTracker()
    for f in frames:
        tracks = tracker.update(f.det_boxes, f.det_scores, f.det_class_ids)
    assert tracks.ids.tolist() == [1] and tracks.states.tolist() == [CONFIRMED]
    assert tracks.ages[0] == 19
    assert tracks.velocities[0] == pytest.approx([8.0, 0.0], abs=0.3)
    trail = tracks.trail(0)
    assert trail.shape == (20, 2) and trail[-1, 0] > trail[0, 0]
    record = tracks.to_records(("thing",))[0]
    assert set(record) >= {"track_id", "box", "class_id", "score", "age", "velocity", "label"}
    assert record["label"] == "thing"


def test_low_score_detections_keep_a_track_alive_but_do_not_start_one():
    box = np.array([[100, 100, 140, 140]], np.float32)
    tracker = ByteTracker(TrackerConfig(coast_frames=0))
    assert tracker.update(box, [0.9]).ids.tolist() == [1]
    for step in range(1, 6):  # the detector is unsure for 5 frames (score 0.3)
        out = tracker.update(box + step, [0.3])
        assert out.ids.tolist() == [1]
    fresh = ByteTracker()
    assert len(fresh.update(box, [0.3])) == 0 and fresh.track_count == 0


def test_per_class_tracking_never_matches_across_classes():
    box = np.array([[100, 100, 140, 140]], np.float32)
    tracker = ByteTracker(TrackerConfig(per_class=True, coast_frames=0))
    first = tracker.update(box, [0.9], [0])
    second = tracker.update(box, [0.9], [1])
    assert first.ids.tolist() == [1] and 1 not in second.ids.tolist()
    agnostic = ByteTracker(TrackerConfig(per_class=False))
    agnostic.update(box, [0.9], [0])
    assert agnostic.update(box, [0.9], [1]).ids.tolist() == [1]


def test_lost_tracks_coast_then_expire():
    box = np.array([[100, 100, 140, 140]], np.float32)
    tracker = ByteTracker(TrackerConfig(coast_frames=1, track_buffer=3))
    tracker.update(box, [0.9])
    empty = np.zeros((0, 4), np.float32)
    coasted = tracker.update(empty, np.zeros(0))
    assert coasted.ids.tolist() == [1] and coasted.states.tolist() == [LOST]
    assert len(tracker.update(empty, np.zeros(0))) == 0
    assert tracker.update(empty, np.zeros(0), include_lost=True).ids.tolist() == [1]
    tracker.update(empty, np.zeros(0))
    assert tracker.track_count == 0  # gone after the buffer


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="one row per detection"):
        ByteTracker().update(np.zeros((2, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="thresholds"):
        TrackerConfig(low_threshold=0.8, high_threshold=0.5)


def test_iou_and_matching_building_blocks():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[20, 20, 30, 30], [5, 0, 15, 10]], np.float32)
    iou = iou_matrix(a, b)
    assert iou[0, 1] == pytest.approx(50 / 150) and iou[1, 0] == pytest.approx(1.0) and iou[0, 0] == 0
    rows, cols = match(iou, 0.5)
    assert list(zip(rows.tolist(), cols.tolist())) == [(1, 0)]  # (0, 1) is below the minimum IoU


def test_batched_kalman_follows_constant_velocity():
    truth = np.array([[50.0, 60.0, 20.0, 30.0], [300.0, 200.0, 40.0, 40.0]])
    velocity = np.array([[3.0, -2.0, 0, 0], [-5.0, 1.0, 0, 0]])
    mean, cov = kalman_init(truth)
    for step in range(1, 30):
        mean, cov = kalman_predict(mean, cov)
        mean, cov = kalman_update(mean, cov, truth + velocity * step)
    assert mean[:, 4:6] == pytest.approx(velocity[:, :2], abs=0.05)
    assert np.allclose(cov, np.transpose(cov, (0, 2, 1)), atol=1e-6)  # stays symmetric


def test_matching_is_optimal_with_and_without_the_unambiguous_shortcut():
    from scipy.optimize import linear_sum_assignment
    rng = np.random.default_rng(5)
    for _ in range(50):
        iou = rng.uniform(0, 1, (12, 10)) * (rng.uniform(0, 1, (12, 10)) < 0.15)
        rows, cols = match(iou, 0.2)
        ok = iou >= 0.2
        r, c = linear_sum_assignment(np.where(ok, 1 - iou, 1e6))
        keep = ok[r, c]
        assert len(rows) == keep.sum()
        assert iou[rows, cols].sum() == pytest.approx(iou[r[keep], c[keep]].sum())
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)


def test_swept_iou_equals_the_dense_one_on_crowded_frames():
    rng = np.random.default_rng(9)
    xy = rng.uniform(0, 1500, (300, 2))
    wh = rng.uniform(5, 120, (300, 2))
    a = np.concatenate((xy, xy + wh), axis=1)
    b = a[rng.permutation(300)[:250]] + rng.uniform(-8, 8, (250, 4))
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
    fast = iou_matrix(a, b)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    dense = inter / (area(a)[:, None] + area(b)[None, :] - inter)
    assert fast.shape == (300, 250) and np.allclose(fast, dense, atol=1e-5)
    assert (fast > 0).sum() == (dense > 0).sum()
