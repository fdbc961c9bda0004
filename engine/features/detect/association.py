"""Associating tracks with detections by IoU, at bounded cost.

``iou_matrix`` compares every pair (small sets); ``iou_pairs`` lists only the pairs whose
boxes overlap, sweeping along x in blocks, so a crowded or hostile frame costs memory for
its overlaps, not for every track x detection pair; ``match_pairs`` / ``match`` solve the
assignment optimally (``scipy.optimize.linear_sum_assignment``, sparse beyond a size).
Boxes are (N, 4) float32 x1 y1 x2 y2 in pixels.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

# Limits: real scenes stay far below each one and give the same matches as without.
MAX_CANDIDATES = 64  # detections considered per track in one association: the best by IoU
SWEEP_WINDOW = 512  # detections compared with one track at most (nearest along x); a frame has <= 300
IOU_BLOCK_PAIRS = 1 << 20  # box pairs compared at once (a few tens of MB)
DENSE_MATCH_MAX = 1 << 22  # ambiguous track x detection pairs solved with a dense assignment; beyond, sparse

_DENSE_IOU_MAX = 64 * 64  # above this many pairs, only boxes that overlap along x are compared


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of a[i] with b[i] for (..., 4) float32 arrays -> (...)."""
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
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


def iou_pairs(a: np.ndarray, b: np.ndarray, min_iou: float, a_groups: np.ndarray | None = None,
              b_groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of boxes of ``a`` (N, 4) and ``b`` (M, 4), xyxy, with IoU >= ``min_iou``.

    Returns (rows, cols, ious): int64, int64, float32, sorted by row then column. With
    ``a_groups``/``b_groups`` ((N,), (M,) ints, e.g. class ids) only pairs of the same group
    count. Boxes are swept along x: ``b`` sorted by x1, a box of ``a`` is compared only with
    those whose x-range can reach it, at most ``SWEEP_WINDOW`` of them (the nearest in x1;
    more only in frames far beyond any detector's output), in blocks of about
    ``IOU_BLOCK_PAIRS`` pairs, and keeps its ``MAX_CANDIDATES`` best. So memory and time
    stay bounded however many boxes overlap.
    """
    a = np.asarray(a, np.float32).reshape(-1, 4)  # float32, as iou_matrix: the same values
    b = np.asarray(b, np.float32).reshape(-1, 4)
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if not len(a) or not len(b):
        return none
    order = np.argsort(b[:, 0], kind="stable")
    x1_sorted = b[order, 0]
    widest = float((b[:, 2] - b[:, 0]).max())
    lo = np.searchsorted(x1_sorted, a[:, 0] - widest, side="left")
    hi = np.maximum(np.searchsorted(x1_sorted, a[:, 2], side="right"), lo)
    # A window wider than SWEEP_WINDOW keeps the positions nearest to the box's own x1.
    near = np.searchsorted(x1_sorted, a[:, 0], side="left") - SWEEP_WINDOW // 2
    lo = np.clip(near, lo, np.maximum(hi - SWEEP_WINDOW, lo))
    hi = np.minimum(hi, lo + SWEEP_WINDOW)
    width = int((hi - lo).max())
    if width == 0:
        return none
    a_groups = None if a_groups is None or b_groups is None else np.asarray(a_groups)
    b_groups = None if a_groups is None else np.asarray(b_groups)
    step = max(1, IOU_BLOCK_PAIRS // width)
    out_r, out_c, out_v = [], [], []
    for first in range(0, len(a), step):
        rows = np.arange(first, min(first + step, len(a)))
        # One row per box of a, one column per position of its window (padding masked).
        positions = lo[rows, None] + np.arange(width)[None, :]
        valid = positions < hi[rows, None]
        cols = order[np.minimum(positions, len(b) - 1)]
        ious = _pair_iou(a[rows, None, :], b[cols])
        valid &= ious >= min_iou
        if a_groups is not None:
            valid &= a_groups[rows, None] == b_groups[cols]
        if width > MAX_CANDIDATES and (valid.sum(axis=1) > MAX_CANDIDATES).any():
            # Only each row's MAX_CANDIDATES best: the others are masked out.
            ranked = np.where(valid, ious, -1.0)
            cut = np.argpartition(-ranked, MAX_CANDIDATES - 1, axis=1)[:, MAX_CANDIDATES:]
            np.put_along_axis(valid, cut, False, axis=1)
        r, k = np.nonzero(valid)
        out_r.append(rows[r])
        out_c.append(cols[r, k])
        out_v.append(ious[r, k])
    rows, cols, ious = np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)
    by_row_col = np.lexsort((cols, rows))
    return rows[by_row_col].astype(np.int64), cols[by_row_col].astype(np.int64), ious[by_row_col]


def match_pairs(rows: np.ndarray, cols: np.ndarray, ious: np.ndarray, n_rows: int,
                n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching of the candidate pairs (rows[k], cols[k]) with IoU ious[k]
    (all acceptable; sorted by row then column, as ``iou_pairs`` gives them): as many pairs
    as possible, and among those the largest total IoU.

    Returns (rows, cols) int64 of the accepted pairs. A row and a column that are each
    other's only candidate are paired directly (objects apart from each other); the
    ambiguous rest is solved with ``linear_sum_assignment`` on a dense matrix, or, when
    that would exceed ``DENSE_MATCH_MAX`` entries, with scipy's sparse matcher on the
    candidate pairs alone (the same optimum).
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if not len(rows):
        return empty
    row_deg = np.bincount(rows, minlength=n_rows)
    col_deg = np.bincount(cols, minlength=n_cols)
    single = (row_deg[rows] == 1) & (col_deg[cols] == 1)
    r1, c1 = rows[single], cols[single]
    rest = ~single
    if not rest.any():
        return r1.astype(np.int64), c1.astype(np.int64)
    # A single pair's row and column have no other pair: the rest pairs use neither.
    rest_rows, rest_cols, rest_iou = rows[rest], cols[rest], ious[rest]
    rest_r, ri = np.unique(rest_rows, return_inverse=True)
    rest_c, ci = np.unique(rest_cols, return_inverse=True)
    if len(rest_r) * len(rest_c) <= DENSE_MATCH_MAX:
        sub_ok = np.zeros((len(rest_r), len(rest_c)), bool)
        sub_ok[ri, ci] = True
        # A finite big cost keeps it feasible; the dtype of the IoUs (float32 from iou_pairs).
        cost = np.full((len(rest_r), len(rest_c)), 1e6, np.result_type(rest_iou, np.float32))
        cost[ri, ci] = 1.0 - rest_iou
        sr, sc = linear_sum_assignment(cost)
        keep = sub_ok[sr, sc]
        sr, sc = sr[keep], sc[keep]
    else:
        sr, sc = _sparse_assignment(ri, ci, rest_iou, len(rest_r), len(rest_c))
    return (np.concatenate((r1, rest_r[sr])).astype(np.int64),
            np.concatenate((c1, rest_c[sc])).astype(np.int64))


def _sparse_assignment(ri: np.ndarray, ci: np.ndarray, ious: np.ndarray, n_rows: int,
                       n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """``match_pairs``' optimum for many rows and columns, from the candidate pairs alone.

    Each row also gets a private stand-in column at a huge cost, so every row can be
    matched (scipy's sparse solver needs a full matching): as few stand-ins as possible
    means as many real pairs as possible, then the smallest sum of (1 - IoU), as in the
    dense case. Real costs are 2 - IoU (> 0: a zero would read as no edge).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    stand_in = np.arange(n_rows)
    graph = coo_matrix((np.concatenate((2.0 - ious.astype(np.float64), np.full(n_rows, 1e6))),
                        (np.concatenate((ri, stand_in)), np.concatenate((ci, n_cols + stand_in)))),
                       shape=(n_rows, n_cols + n_rows)).tocsr()
    rows, cols = min_weight_full_bipartite_matching(graph)
    real = cols < n_cols
    return rows[real], cols[real]


def match(iou: np.ndarray, min_iou: float, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching maximising total IoU; pairs below ``min_iou`` are refused.

    iou: (N, M). allowed: optional (N, M) bool mask (e.g. same class). Returns (rows, cols)
    int arrays of the accepted pairs (see ``match_pairs``, which the tracker calls with
    the pairs of ``iou_pairs`` instead of a dense matrix).
    """
    if iou.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ok = iou >= min_iou
    if allowed is not None:
        ok &= allowed
    rows, cols = np.nonzero(ok)
    return match_pairs(rows, cols, np.asarray(iou)[rows, cols], iou.shape[0], iou.shape[1])


# ------------------------------------------------------------------------------ Kalman
