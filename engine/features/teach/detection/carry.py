"""Carry labelled boxes from one frame to the next, so a moving object is labelled by
confirming the tracker's proposals instead of drawing every box again.

Per box: corners worth tracking (Shi-Tomasi) inside the box in frame t, followed into
frame t+1 with pyramidal Lucas-Kanade and back again; points that do not come back to
where they started (forward-backward error) are outliers. The box moves by the median
shift of the inliers and scales by the median ratio of their pairwise distances
(robust to the background corners a box always holds). A box with too few inliers (a
flat, one-colour object has nothing inside to follow) is found again by template
matching of its patch near where it was (shift only).

Each carried box gets a confidence in 0..1: the share of its points that are inliers,
times a factor that falls when few points are left or the inliers disagree, times the
share of the new box still inside the picture, times how alike the box's contents look in
the two frames (normalised cross-correlation). A box below ``LOST_BELOW`` (or with too
few inliers, or mostly outside the picture) is ``lost``: the object was hidden, left
the picture, or changed too much, and the user should draw it again.

Boxes: (N, 4) float32 x1, y1, x2, y2 in pixels, top-left origin (as everywhere in Teach).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LOST_BELOW = 0.35
MIN_INLIERS = 5
#: Forward-backward error (pixels) above which a tracked point is an outlier.
MAX_FB_ERROR = 1.0
#: Template-matching score (normalised cross-correlation) that counts as no match at all.
MATCH_FLOOR = 0.6
# A small window on a deep pyramid: at the coarse levels a large window would be mostly
# background, which does not move, and the object's points would stay behind with it.
_LK = dict(winSize=(11, 11), maxLevel=4, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))


@dataclass(frozen=True)
class Carried:
    """The boxes in the next frame: ``boxes`` (N, 4) float32 pixels (clipped to the
    picture), ``confidence`` (N,) float32 0..1, ``lost`` (N,) bool (see the module docstring)."""

    boxes: np.ndarray
    confidence: np.ndarray
    lost: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        """Indices of the boxes that were not lost."""
        return np.flatnonzero(~self.lost)


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def _points_in(grey: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(K, 1, 2) float32 corners worth tracking inside ``box`` (K may be 0)."""
    h, w = grey.shape
    x1, y1 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x2, y2 = int(min(w, np.ceil(box[2]))), int(min(h, np.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros((0, 1, 2), np.float32)
    # Keep a margin: the box edge is often background, the object is in the middle.
    mx, my = (x2 - x1) // 10, (y2 - y1) // 10
    mask = np.zeros_like(grey)
    mask[y1 + my:y2 - my, x1 + mx:x2 - mx] = 255
    distance = max(2, min(x2 - x1, y2 - y1) // 12)
    corners = cv2.goodFeaturesToTrack(grey, maxCorners=80, qualityLevel=0.01, minDistance=distance, mask=mask)
    return np.zeros((0, 1, 2), np.float32) if corners is None else corners.astype(np.float32)


def _median_scale(p0: np.ndarray, p1: np.ndarray) -> float:
    """Median ratio of pairwise distances after / before (1 when it cannot be measured)."""
    if len(p0) < 2:
        return 1.0
    i, j = np.triu_indices(len(p0), 1)
    d0 = np.linalg.norm(p0[i] - p0[j], axis=1)
    d1 = np.linalg.norm(p1[i] - p1[j], axis=1)
    ok = d0 > 4.0
    return float(np.median(d1[ok] / d0[ok])) if ok.any() else 1.0


def _likeness(a: np.ndarray, box_a: np.ndarray, b: np.ndarray, box_b: np.ndarray) -> float:
    """Normalised cross-correlation (-1..1) of the two boxes' grey patches at 24x24: low when
    the points followed the background while the object went elsewhere."""
    patches = []
    for grey, box in ((a, box_a), (b, box_b)):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        patch = grey[max(y1, 0):max(y2, y1 + 1), max(x1, 0):max(x2, x1 + 1)]
        if patch.size == 0:
            return 0.0
        patch = cv2.resize(patch, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float32)
        patches.append((patch - patch.mean()) / (patch.std() + 1e-3))
    return float((patches[0] * patches[1]).mean())


def _match(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Template matching fallback: the box's patch of ``a`` (with a thin rim around it)
    searched in ``b`` around where it was (half the box's size each way). Returns (box clipped, confidence = match score x share
    inside, mostly outside)."""
    h, w = a.shape
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return box, 0.0, True
    # A little of the background around the box: a one-colour object is its outline.
    rim = max(3, min(x2 - x1, y2 - y1) // 10)
    x1, y1, x2, y2 = max(x1 - rim, 0), max(y1 - rim, 0), min(x2 + rim, w), min(y2 + rim, h)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return box, 0.0, True
    pad_x, pad_y = (x2 - x1) // 2 + 2, (y2 - y1) // 2 + 2
    sx1, sy1, sx2, sy2 = max(x1 - pad_x, 0), max(y1 - pad_y, 0), min(x2 + pad_x, w), min(y2 + pad_y, h)
    template, search = a[y1:y2, x1:x2], b[sy1:sy2, sx1:sx2]
    if template.std() < 2.0:  # flat all over: no outline inside the box either
        return box, 0.0, False
    scores = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    dx, dy = sx1 + bx - x1, sy1 + by - y1
    moved = np.asarray(box, np.float32) + np.float32([dx, dy, dx, dy])
    clipped = np.clip(moved, 0, [w, h, w, h]).astype(np.float32)
    area = max(1e-6, float((moved[2] - moved[0]) * (moved[3] - moved[1])))
    inside = float((clipped[2] - clipped[0]) * (clipped[3] - clipped[1])) / area
    # Only a close match counts: an outline half-matches any edge (a hand, a card) nearby.
    score = float(np.clip((best - MATCH_FLOOR) / (1.0 - MATCH_FLOOR - 0.05), 0.0, 1.0))
    return clipped, score * inside, inside < 0.5


def _follow(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float, bool] | None:
    """Lucas-Kanade on the box's corners: (box clipped, confidence, mostly outside), or None
    when the box has too few corners or too few of them come back (forward-backward)."""
    h, w = a.shape
    p0 = _points_in(a, box)
    if len(p0) < 2 * MIN_INLIERS:
        return None
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **_LK)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **_LK)
    fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < MAX_FB_ERROR)
    q0, q1 = p0.reshape(-1, 2)[good], p1.reshape(-1, 2)[good]
    if len(q0) < MIN_INLIERS:
        return None
    shift = np.median(q1 - q0, axis=0)
    # Inliers that disagree with the median shift (background corners) do not vote on scale.
    agree = np.linalg.norm((q1 - q0) - shift, axis=1) < 2.0
    if agree.sum() >= MIN_INLIERS:
        q0, q1 = q0[agree], q1[agree]
        shift = np.median(q1 - q0, axis=0)
    scale = float(np.clip(_median_scale(q0, q1), 0.8, 1.25))
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) + shift
    half = np.array([box[2] - box[0], box[3] - box[1]]) * scale / 2
    moved = np.array([*(centre - half), *(centre + half)], np.float32)
    clipped = np.clip(moved, 0, [w, h, w, h]).astype(np.float32)
    area = max(1e-6, float((moved[2] - moved[0]) * (moved[3] - moved[1])))
    inside = float((clipped[2] - clipped[0]) * (clipped[3] - clipped[1])) / area
    support = min(1.0, len(q0) / (2 * MIN_INLIERS))
    # The part still in the picture, and where it was in the previous frame.
    before = np.concatenate([(clipped[:2] - centre) / scale + centre - shift,
                             (clipped[2:] - centre) / scale + centre - shift]).astype(np.float32)
    likeness = max(0.0, _likeness(a, before, b, clipped)) if inside >= 0.5 else 0.0
    return clipped, (len(q0) / len(p0)) ** 0.5 * support * inside * likeness, inside < 0.5


def carry_boxes(previous: np.ndarray, current: np.ndarray, boxes: np.ndarray) -> Carried:
    """Carry ``boxes`` of the ``previous`` frame into ``current`` (both uint8 BGR or grey,
    same size). Returns ``Carried`` (module docstring)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    a, b = _grey(previous), _grey(current)
    if a.shape != b.shape:
        raise ValueError(f"frames of different sizes: {a.shape} and {b.shape}")
    out = boxes.copy()
    confidence = np.zeros(len(boxes), np.float32)
    outside = np.zeros(len(boxes), bool)
    for n, box in enumerate(boxes):
        followed = _follow(a, b, box)
        if followed is None or followed[1] < LOST_BELOW:
            # A flat object (one colour) has little inside to follow: find its outline instead.
            matched = _match(a, b, box)
            if followed is None or matched[1] > followed[1]:
                followed = matched
        out[n], confidence[n], outside[n] = followed
    lost = (confidence < LOST_BELOW) | outside | ((out[:, 2] - out[:, 0]) < 2) | ((out[:, 3] - out[:, 1]) < 2)
    return Carried(out, confidence, lost)
