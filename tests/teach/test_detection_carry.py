"""Carrying boxes to the next frame on a synthesized video: a textured object moving
(and growing) on a textured background stays boxed; one that leaves the picture is lost."""

from __future__ import annotations

import cv2
import numpy as np

from engine.features.teach.detection.carry import carry_boxes

W, H = 320, 240


def _texture(rng, h, w, blur):
    return cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), blur)


def _video(boxes_true):
    """Frames with a textured object drawn (resized) into each true box over one background."""
    rng = np.random.default_rng(0)
    background = _texture(rng, H, W, 2.0)
    thing = cv2.addWeighted(_texture(rng, 80, 80, 1.2), 0.7, np.full((80, 80, 3), (40, 80, 200), np.uint8), 0.3, 0)
    frames = []
    for x1, y1, x2, y2 in boxes_true:
        frame = background.copy()
        ix1, iy1, ix2, iy2 = (int(round(v)) for v in (x1, y1, x2, y2))
        patch = cv2.resize(thing, (ix2 - ix1, iy2 - iy1), interpolation=cv2.INTER_LINEAR)
        vx1, vy1, vx2, vy2 = max(ix1, 0), max(iy1, 0), min(ix2, W), min(iy2, H)
        if vx2 > vx1 and vy2 > vy1:
            frame[vy1:vy2, vx1:vx2] = patch[vy1 - iy1:vy2 - iy1, vx1 - ix1:vx2 - ix1]
        frames.append(frame)
    return frames


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_a_moving_growing_object_stays_boxed_over_20_frames():
    truth = []
    for t in range(21):
        side = 60 * 1.012 ** t
        cx, cy = 90 + 4.0 * t, 80 + 2.5 * t
        truth.append((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    frames = _video(truth)
    boxes = np.array([truth[0]], np.float32)
    ious = []
    for t in range(1, 21):
        carried = carry_boxes(frames[t - 1], frames[t], boxes)
        assert not carried.lost[0], f"lost at frame {t}"
        assert carried.confidence[0] > 0.5
        boxes = carried.boxes
        ious.append(_iou(boxes[0], truth[t]))
    assert min(ious) >= 0.8, ious
    side = boxes[0, 2] - boxes[0, 0]
    assert side > 64  # the growth was followed, not only the shift (60 px -> 76 px)


def test_an_object_leaving_the_picture_is_flagged_lost():
    truth = [(200 + 12.0 * t, 90, 260 + 12.0 * t, 150) for t in range(12)]
    frames = _video(truth)
    boxes = np.array([truth[0]], np.float32)
    lost_at = None
    for t in range(1, 12):
        carried = carry_boxes(frames[t - 1], frames[t], boxes)
        if carried.lost[0]:
            lost_at = t
            break
        assert _iou(carried.boxes[0], (truth[t][0], 90, min(truth[t][2], W), 150)) > 0.6
        boxes = carried.boxes
    assert lost_at is not None, "the object left the picture but the box was never flagged"
    assert truth[lost_at][0] > W - 60 / 2 - 12  # flagged once about half of it had gone, not before


def test_a_covered_object_is_lost_and_the_other_box_is_kept():
    truth = [(40 + 3.0 * t, 60, 100 + 3.0 * t, 120) for t in range(2)]
    frames = _video(truth)
    covered = frames[1].copy()
    covered[40:140, 20:140] = 128  # a flat grey card over the object
    boxes = np.array([truth[0], (200, 100, 260, 160)], np.float32)
    carried = carry_boxes(frames[0], covered, boxes)
    assert carried.lost.tolist() == [True, False]
    assert carried.kept.tolist() == [1]
    np.testing.assert_allclose(carried.boxes[1], (200, 100, 260, 160), atol=1.0)  # background: stays put


def test_one_colour_objects_are_carried_by_their_outline():
    """The synthetic scenes' discs, squares and triangles are flat colour: few or no corners
    inside, so they are found again by their outline (template matching)."""
    from engine.features.teach.detection.scenes import make_scene

    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(12):
        image, boxes, _ids = make_scene(rng, (W, H), 3)
        dx, dy = rng.uniform(-10, 10, 2)
        moved = cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), (W, H), borderMode=cv2.BORDER_REFLECT)
        truth = boxes + np.float32([dx, dy, dx, dy])
        inside = (truth[:, 0] >= 0) & (truth[:, 1] >= 0) & (truth[:, 2] <= W) & (truth[:, 3] <= H)
        carried = carry_boxes(image, moved, boxes)
        assert not carried.lost[inside].any()
        np.testing.assert_allclose(carried.boxes[inside], truth[inside], atol=3.0)
        checked += int(inside.sum())
    assert checked >= 20
