"""Multi-object tracking of the ByteTrack kind: the same object keeps the same id.

Each track carries a constant-velocity Kalman filter on its box (centre x, centre y,
width, height and their velocities). Every frame:

1. all tracks are predicted one frame ahead (one batched numpy step);
2. high-score detections are matched to confirmed and lost tracks by IoU, solved
   optimally (``scipy.optimize.linear_sum_assignment``);
3. low-score detections are matched to the confirmed tracks still unmatched, which keeps
   a track alive through partial occlusion where the detector is unsure;
4. unmatched tentative tracks get one chance with the remaining high-score detections,
   and die otherwise; unmatched confirmed tracks become *lost* and are kept, predicted,
   for ``track_buffer`` frames, so an object that reappears gets its old id back;
5. what is left of the high-score detections starts new (tentative) tracks.

Tracks are stored as arrays (structure of arrays), so the cost per frame is a few
vectorised operations, not a Python loop per track.

Coordinates: boxes are (N, 4) float32 x1 y1 x2 y2 in pixels of the original frame;
velocities are pixels per frame of the box centre; a trail is (K, 2) float32 box
centres, oldest first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

log = logging.getLogger(__name__)

TENTATIVE, CONFIRMED, LOST = 0, 1, 2
STATE_NAMES = ("tentative", "confirmed", "lost")


@dataclass(frozen=True)
class TrackerConfig:
    """How the tracker associates and keeps tracks.

    high_threshold: detections at or above it take part in the first association and may
    start tracks. low_threshold: detections between it and ``high_threshold`` are only
    used to keep existing tracks alive. new_track_threshold: minimum score to start a
    track. match_iou / low_match_iou / tentative_match_iou: minimum IoU between a predicted
    track box and a detection for each association stage. track_buffer: frames a lost
    track is kept (an object hidden for up to this many frames keeps its id). min_hits:
    matched frames before a tentative track is confirmed (reported); tracks seen in the
    first frame are confirmed at once. coast_frames: a confirmed track missed for at most
    this many frames is still reported at its predicted box (state LOST), which bridges
    a detector's one-frame misses. per_class: only match detections to tracks of the same
    class. trail_length: centres kept per track.
    """

    high_threshold: float = 0.5
    low_threshold: float = 0.1
    new_track_threshold: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    tentative_match_iou: float = 0.3
    track_buffer: int = 30
    min_hits: int = 2
    coast_frames: int = 1
    per_class: bool = False
    trail_length: int = 30

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_threshold <= self.high_threshold <= 1.0:
            raise ValueError(f"tracker thresholds must satisfy 0 <= low ({self.low_threshold}) <= "
                             f"high ({self.high_threshold}) <= 1")
        if self.track_buffer < 0 or self.coast_frames < 0 or self.min_hits < 1 or self.trail_length < 1:
            raise ValueError("track_buffer and coast_frames must be >= 0, min_hits and trail_length >= 1")


def config_for_confidence(conf: float, base: TrackerConfig | None = None) -> TrackerConfig:
    """Tracker thresholds that follow a detector confidence threshold ``conf`` (0..1).

    Detections at or above ``conf`` are the "high" ones; run the detector itself at
    ``low_threshold`` (``min(conf, 0.1)``) so that ByteTrack's second stage sees the
    unsure ones too. A track starts at ``conf + 0.1``, as ByteTrack does.
    """
    from dataclasses import replace
    base = base or TrackerConfig()
    conf = float(min(max(conf, 0.0), 1.0))
    return replace(base, high_threshold=conf, low_threshold=min(conf, base.low_threshold),
                   new_track_threshold=min(conf + 0.1, 1.0))


@dataclass(frozen=True, eq=False)
class Tracks:
    """The tracks reported for one frame (plain data).

    ids: (N,) int64, unique and stable across frames. boxes: (N, 4) float32 xyxy frame
    pixels (the filtered box). class_ids: (N,) int64. scores: (N,) float32 (of the
    detection matched this frame). ages: (N,) int64 frames since the track started.
    velocities: (N, 2) float32 centre pixels per frame. states: (N,) int8 (TENTATIVE,
    CONFIRMED, LOST). trail_points: (N, L, 2) float32 recent centres, newest last, of which
    the last ``trail_lengths[i]`` are valid (``trail(i)`` slices them). detection_index:
    (N,) int64 row of the detection each track matched in this frame's input, -1 when
    coasting. frame_index: the tracker's frame counter (0-based).
    """

    ids: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray
    ages: np.ndarray
    velocities: np.ndarray
    states: np.ndarray
    trail_points: np.ndarray | None = None
    trail_lengths: np.ndarray | None = None
    detection_index: np.ndarray | None = None
    frame_index: int = 0

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def track_ids_for_detections(self, count: int) -> np.ndarray:
        """(count,) int64 track id of each input detection, -1 for detections no track reports."""
        out = np.full(count, -1, np.int64)
        if self.detection_index is not None:
            ok = self.detection_index >= 0
            out[self.detection_index[ok]] = self.ids[ok]
        return out

    def trail(self, i: int) -> np.ndarray:
        """(K, 2) float32 centres of track row ``i``, oldest first."""
        if self.trail_points is None or self.trail_lengths is None:
            return np.zeros((0, 2), np.float32)
        n = int(self.trail_lengths[i])
        return self.trail_points[i, self.trail_points.shape[1] - n:]

    def centers(self) -> np.ndarray:
        """(N, 2) float32 box centres."""
        b = self.boxes
        return np.stack(((b[:, 0] + b[:, 2]) * 0.5, (b[:, 1] + b[:, 3]) * 0.5), axis=1).astype(np.float32)

    def to_records(self, class_names: tuple[str, ...] = ()) -> list[dict]:
        """JSON-ready dicts: track_id, box, class_id (label), score, age, velocity, state."""
        records = []
        for i in range(len(self)):
            cid = int(self.class_ids[i])
            record = {"track_id": int(self.ids[i]), "box": [round(float(v), 2) for v in self.boxes[i]],
                      "class_id": cid, "score": round(float(self.scores[i]), 5), "age": int(self.ages[i]),
                      "velocity": [round(float(v), 3) for v in self.velocities[i]],
                      "state": STATE_NAMES[int(self.states[i])]}
            if class_names:
                record["label"] = class_names[cid] if 0 <= cid < len(class_names) else f"class {cid}"
            records.append(record)
        return records


def empty_tracks(frame_index: int = 0) -> Tracks:
    return Tracks(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32),
                  np.zeros(0, np.int64), np.zeros((0, 2), np.float32), np.zeros(0, np.int8), None, None, None, frame_index)


_DENSE_IOU_MAX = 64 * 64  # above this many pairs, only boxes that overlap along x are compared


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of a[i] with b[i] for (K, 4) float32 arrays -> (K,)."""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, np.float32(1e-12)), np.float32(0.0))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy -> (N, M) float32.

    Large problems are swept along x: ``b`` sorted by x1, each box of ``a`` is compared
    only with the boxes whose x-range can reach it (found with searchsorted), so a crowded
    frame costs about N x (neighbours), not N x M.
    """
    a = np.asarray(a, np.float32).reshape(-1, 4)  # float32: half the memory traffic, ample for pixels
    b = np.asarray(b, np.float32).reshape(-1, 4)
    n, m = len(a), len(b)
    out = np.zeros((n, m), np.float32)
    if not n or not m:
        return out
    if n * m <= _DENSE_IOU_MAX:
        return _pair_iou(np.repeat(a, m, axis=0), np.tile(b, (n, 1))).reshape(n, m)
    order = np.argsort(b[:, 0], kind="stable")
    x1_sorted = b[order, 0]
    widest = float((b[:, 2] - b[:, 0]).max())
    lo = np.searchsorted(x1_sorted, a[:, 0] - widest, side="left")
    hi = np.searchsorted(x1_sorted, a[:, 2], side="right")
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    if total == 0:
        return out
    rows = np.repeat(np.arange(n), counts)
    # Positions lo[i] .. hi[i]-1 for every row, concatenated, without a Python loop.
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    cols = order[np.arange(total) + starts]
    out[rows, cols] = _pair_iou(a[rows], b[cols])
    return out


def match(iou: np.ndarray, min_iou: float, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching maximising total IoU; pairs below ``min_iou`` are refused.

    iou: (N, M). allowed: optional (N, M) bool mask (e.g. same class). Returns (rows, cols)
    int arrays of the accepted pairs. A row and a column that are each other's only
    candidate are paired directly (the usual case for objects apart from each other);
    the assignment problem is solved only for the ambiguous rest, which keeps crowded
    scenes cheap without changing the optimum.
    """
    if iou.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ok = iou >= min_iou
    if allowed is not None:
        ok &= allowed
    row_deg = ok.sum(axis=1)
    col_deg = ok.sum(axis=0)
    single = ok & (row_deg[:, None] == 1) & (col_deg[None, :] == 1)
    r1, c1 = np.nonzero(single)
    rest_r = np.flatnonzero((row_deg > 0) & ~single.any(axis=1))
    rest_c = np.flatnonzero((col_deg > 0) & ~single.any(axis=0))
    if not len(rest_r) or not len(rest_c):
        return r1.astype(np.int64), c1.astype(np.int64)
    sub_ok = ok[np.ix_(rest_r, rest_c)]
    cost = np.where(sub_ok, 1.0 - iou[np.ix_(rest_r, rest_c)], 1e6)  # a finite big cost keeps it feasible
    rows, cols = linear_sum_assignment(cost)
    keep = sub_ok[rows, cols]
    return (np.concatenate((r1, rest_r[rows[keep]])).astype(np.int64),
            np.concatenate((c1, rest_c[cols[keep]])).astype(np.int64))


# ------------------------------------------------------------------------------ Kalman

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)  # position += velocity (one frame)
_H = np.eye(4, 8)
_POS_W, _VEL_W = 1.0 / 20.0, 1.0 / 160.0  # noise per unit of box size, as in SORT/ByteTrack


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack(((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), axis=1)


def cxcywh_to_xyxy(state: np.ndarray) -> np.ndarray:
    cx, cy = state[:, 0], state[:, 1]
    w, h = np.maximum(state[:, 2], 1e-3), np.maximum(state[:, 3], 1e-3)
    return np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), axis=1)


def _size_std(mean: np.ndarray) -> np.ndarray:
    """(T, 4) width, height, width, height: noise scales with the box size."""
    w, h = np.maximum(mean[:, 2], 1.0), np.maximum(mean[:, 3], 1.0)
    return np.stack((w, h, w, h), axis=1)


def kalman_init(measurements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New filters at (T, 4) cx cy w h measurements, zero velocity -> mean (T, 8), cov (T, 8, 8)."""
    t = len(measurements)
    mean = np.zeros((t, 8))
    mean[:, :4] = measurements
    size = _size_std(mean)
    std = np.concatenate((2 * _POS_W * size, 10 * _VEL_W * size), axis=1)
    cov = np.zeros((t, 8, 8))
    idx = np.arange(8)
    cov[:, idx, idx] = std ** 2
    return mean, cov


def kalman_predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead for every filter at once."""
    if not len(mean):
        return mean, cov
    size = _size_std(mean)
    q = np.concatenate((_POS_W * size, _VEL_W * size), axis=1) ** 2
    mean = mean @ _F.T
    cov = _F @ cov @ _F.T
    idx = np.arange(8)
    cov[:, idx, idx] += q
    return mean, cov


def kalman_update(mean: np.ndarray, cov: np.ndarray, measurements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct (T, 8)/(T, 8, 8) filters with (T, 4) cx cy w h measurements, batched."""
    if not len(mean):
        return mean, cov
    r = (_POS_W * _size_std(mean)) ** 2
    s = cov[:, :4, :4].copy()
    idx = np.arange(4)
    s[:, idx, idx] += r
    pht = cov[:, :, :4]  # P H^T: H selects the first four rows
    # K = P H^T S^-1, solved rather than inverted: S is symmetric, so K^T = S^-1 (P H^T)^T.
    gain = np.linalg.solve(s, np.transpose(pht, (0, 2, 1))).transpose(0, 2, 1)
    innovation = measurements - mean[:, :4]
    mean = mean + np.einsum("tij,tj->ti", gain, innovation)
    cov = cov - gain @ cov[:, :4, :]
    return mean, cov


# ------------------------------------------------------------------------------ tracker


@dataclass
class _Store:
    """All tracks as parallel arrays (index = row)."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 8)))
    cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 8, 8)))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    states: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    last_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    trail: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 2), np.float32))  # newest last
    trail_len: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    det_row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # this frame's detection, or -1

    _ARRAYS = ("ids", "mean", "cov", "class_ids", "scores", "states", "hits", "start", "last_seen", "trail",
               "trail_len", "det_row")

    def keep(self, mask: np.ndarray) -> None:
        for name in self._ARRAYS:
            setattr(self, name, getattr(self, name)[mask])

    def append(self, other: "_Store") -> None:
        for name in self._ARRAYS:
            setattr(self, name, np.concatenate((getattr(self, name), getattr(other, name))))


class ByteTracker:
    """Feed it one frame of detections at a time with ``update``; it returns the tracks.

    The tracker is plain Python + numpy + scipy (no torch, no Qt), cheap enough to run on
    the inference worker right after the detector. It counts frames itself: call
    ``update`` once per processed frame, with empty arrays when nothing was detected.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        self._store = _Store(trail=np.zeros((0, self.config.trail_length, 2), np.float32))
        self._next_id = 1
        self.frame_index = -1

    @property
    def tracks_started(self) -> int:
        """Tracks created since the last reset (ids run 1..tracks_started)."""
        return self._next_id - 1

    @property
    def track_count(self) -> int:
        """Tracks held (tentative, confirmed and lost)."""
        return len(self._store.ids)

    def update(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None = None,
               include_lost: bool = False) -> Tracks:
        """Advance one frame with this frame's detections.

        boxes (N, 4) xyxy frame pixels, scores (N,), class_ids (N,) or None (all 0).
        Returns the confirmed tracks matched in this frame, those missed for at most
        ``coast_frames`` frames (and, with ``include_lost``, every lost one) at their
        predicted position, ordered by id.
        """
        cfg = self.config
        self.frame_index += 1
        frame = self.frame_index
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        class_ids = np.zeros(len(scores), np.int64) if class_ids is None else np.asarray(class_ids, np.int64).reshape(-1)
        if not (len(boxes) == len(scores) == len(class_ids)):
            raise ValueError(f"boxes ({len(boxes)}), scores ({len(scores)}) and class_ids ({len(class_ids)}) "
                             "must have one row per detection")
        s = self._store
        s.mean, s.cov = kalman_predict(s.mean, s.cov)
        s.det_row[:] = -1

        high = np.flatnonzero(scores >= cfg.high_threshold)
        low = np.flatnonzero((scores >= cfg.low_threshold) & (scores < cfg.high_threshold))
        matched_track = np.zeros(len(s.ids), bool)
        matched_det = np.zeros(len(scores), bool)
        pairs_t: list[np.ndarray] = []
        pairs_d: list[np.ndarray] = []

        def associate(track_rows: np.ndarray, det_rows: np.ndarray, min_iou: float) -> None:
            if not len(track_rows) or not len(det_rows):
                return
            predicted = cxcywh_to_xyxy(s.mean[track_rows])
            iou = iou_matrix(predicted, boxes[det_rows])
            allowed = (s.class_ids[track_rows][:, None] == class_ids[det_rows][None, :]) if cfg.per_class else None
            r, c = match(iou, min_iou, allowed)
            matched_track[track_rows[r]] = True
            matched_det[det_rows[c]] = True
            pairs_t.append(track_rows[r])
            pairs_d.append(det_rows[c])

        established = np.flatnonzero(s.states != TENTATIVE)
        associate(established, high, cfg.match_iou)
        still_active = np.flatnonzero((s.states == CONFIRMED) & ~matched_track)
        associate(still_active, low[~matched_det[low]], cfg.low_match_iou)
        tentative = np.flatnonzero(s.states == TENTATIVE)
        associate(tentative, high[~matched_det[high]], cfg.tentative_match_iou)

        if pairs_t:
            rows = np.concatenate(pairs_t)
            dets = np.concatenate(pairs_d)
            measured = xyxy_to_cxcywh(boxes[dets])
            s.mean[rows], s.cov[rows] = kalman_update(s.mean[rows], s.cov[rows], measured)
            s.scores[rows] = scores[dets]
            s.class_ids[rows] = np.where(cfg.per_class, s.class_ids[rows], class_ids[dets])
            s.hits[rows] += 1
            s.last_seen[rows] = frame
            s.det_row[rows] = dets
            newly = rows[(s.states[rows] == TENTATIVE) & (s.hits[rows] >= cfg.min_hits)]
            s.states[rows[s.states[rows] == LOST]] = CONFIRMED
            s.states[newly] = CONFIRMED
            if newly.size:
                log.debug("tracks confirmed: %s", s.ids[newly].tolist())

        # Unmatched: tentative tracks die, confirmed ones are lost, lost ones expire.
        unmatched = ~matched_track
        s.states[unmatched & (s.states == CONFIRMED)] = LOST
        alive = ~(unmatched & (s.states == TENTATIVE)) & (frame - s.last_seen <= cfg.track_buffer)
        s.keep(alive)
        matched_track = matched_track[alive]

        # New tracks from the high-score detections nobody claimed.
        fresh = high[~matched_det[high] & (scores[high] >= cfg.new_track_threshold)]
        if fresh.size:
            n = len(fresh)
            mean, cov = kalman_init(xyxy_to_cxcywh(boxes[fresh]))
            # min_hits == 1 confirms at once (the first frame of a stream, or a lenient setting).
            state = CONFIRMED if cfg.min_hits <= 1 or frame == 0 else TENTATIVE
            new = _Store(ids=np.arange(self._next_id, self._next_id + n, dtype=np.int64), mean=mean, cov=cov,
                         class_ids=class_ids[fresh].copy(), scores=scores[fresh].copy(),
                         states=np.full(n, state, np.int8), hits=np.ones(n, np.int64),
                         start=np.full(n, frame, np.int64), last_seen=np.full(n, frame, np.int64),
                         trail=np.zeros((n, cfg.trail_length, 2), np.float32), trail_len=np.zeros(n, np.int64),
                         det_row=fresh.astype(np.int64))
            self._next_id += n
            s.append(new)
            matched_track = np.concatenate((matched_track, np.ones(n, bool)))

        seen = np.flatnonzero(matched_track)
        if seen.size:  # shift the matched tracks' trails by one and add this frame's centre
            s.trail[seen, :-1] = s.trail[seen, 1:]
            s.trail[seen, -1] = s.mean[seen, :2]
            s.trail_len[seen] = np.minimum(s.trail_len[seen] + 1, cfg.trail_length)

        report = (s.states == CONFIRMED) & matched_track
        lost = s.states == LOST
        report |= lost if include_lost else lost & (frame - s.last_seen <= cfg.coast_frames)
        rows = np.flatnonzero(report)
        rows = rows[np.argsort(s.ids[rows], kind="stable")]
        return Tracks(
            ids=s.ids[rows].copy(),
            boxes=cxcywh_to_xyxy(s.mean[rows]).astype(np.float32),
            class_ids=s.class_ids[rows].copy(),
            scores=s.scores[rows].copy(),
            ages=(frame - s.start[rows]).astype(np.int64),
            velocities=s.mean[rows, 4:6].astype(np.float32),
            states=s.states[rows].copy(),
            trail_points=s.trail[rows],
            trail_lengths=s.trail_len[rows].copy(),
            detection_index=s.det_row[rows].copy(),
            frame_index=frame,
        )
