"""dlib's 5-point face landmark model (shape_predictor_5_face_landmarks.dat), vectorised.

An ensemble of regression trees (Kazemi & Sullivan 2014): a cascade of levels, each
with a few hundred trees of depth 4 whose splits compare the grey values of two pixels
placed relative to the current shape estimate; every tree adds its leaf's shape update.
The features of a level do not depend on the trees of that level, so all trees of a
level (and all faces of a frame) are evaluated at once with numpy.

Coordinates: the face box is dlib's inclusive rectangle (left, top, right, bottom),
the shape is normalised so (0, 0) is the box's top-left corner and (1, 1) its
bottom-right one. Output points are pixels of the image, rounded to integers as dlib
rounds them (floor(x + 0.5)). Point order is dlib's: 0/1 the outer/inner corner of the
eye on the image's right, 2/3 the outer/inner corner of the other eye, 4 below the nose.

Only this 5-point model is supported on purpose: the 68-point model's training data
forbids commercial use.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.features.faces.dlib_format import DlibFormatError, DlibReader

log = logging.getLogger(__name__)

NUM_POINTS = 5


@dataclass(frozen=True)
class _Level:
    idx1: np.ndarray      # (T, S) int64 feature index of each split
    idx2: np.ndarray      # (T, S)
    thresh: np.ndarray    # (T, S) float32
    leaves: np.ndarray    # (T, L, 2P) float32 shape updates
    anchor: np.ndarray    # (F,) int64 shape point each feature pixel hangs on
    deltas: np.ndarray    # (F, 2) float32 offset of the pixel from that point (reference shape)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Umeyama least-squares similarity from ``src`` to ``dst`` ((K, 2) points), as dlib
    computes it (float64, the same reflection rule). Returns (M (2, 2), t (2,))."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mean_s, mean_d = src.mean(0), dst.mean(0)
    ds, dd = src - mean_s, dst - mean_d
    sigma_s = (ds ** 2).sum() / len(src)
    cov = dd.T @ ds / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    det_cov = np.linalg.det(cov)
    if det_cov < 0 or (det_cov == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        if d[1] < d[0]:
            s[1, 1] = -1
        else:
            s[0, 0] = -1
    r = u @ s @ vt
    c = np.trace(np.diag(d) @ s) / sigma_s if sigma_s != 0 else 1.0
    m = c * r
    return m, mean_d - m @ mean_s


def _similarity_batch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(P, 2) reference shape -> (N, P, 2) shapes: the 2x2 parts of the similarity transforms, (N, 2, 2)."""
    return np.stack([similarity_transform(src, d)[0] for d in dst])


class ShapePredictor:
    """The landmark regressor; ``predict(image, boxes)`` -> (N, 5, 2) float32 integer pixels."""

    def __init__(self, initial_shape: np.ndarray, levels: list[_Level], path: Path | None = None) -> None:
        self.initial = initial_shape.astype(np.float32).reshape(-1, 2)
        self.levels = levels
        self.path = path

    @property
    def num_points(self) -> int:
        return len(self.initial)

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """image: uint8 (H, W, 3) (any channel order) or (H, W) grey; boxes: (N, 4) dlib
        rectangles left, top, right, bottom (inclusive integer pixels). -> (N, P, 2) float32."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        if n == 0:
            return np.zeros((0, self.num_points, 2), np.float32)
        h, w = image.shape[:2]
        # Only the sampled pixels are turned grey (a whole-frame conversion costs more than the trees).
        flat = image.reshape(h * w, -1)
        origin = boxes[:, None, :2]                           # (N, 1, 2)
        extent = (boxes[:, 2:] - boxes[:, :2])[:, None, :]    # (N, 1, 2): right-left, bottom-top
        shape = np.repeat(self.initial[None], n, axis=0)      # (N, P, 2) float32
        rows = np.arange(n)[:, None]
        for level in self.levels:
            tform = _similarity_batch(self.initial, shape).astype(np.float32)  # (N, 2, 2)
            local = np.einsum("nij,fj->nfi", tform, level.deltas).astype(np.float32) + shape[:, level.anchor]
            pix = np.floor(local.astype(np.float64) * extent + origin + 0.5).astype(np.int64)  # (N, F, 2)
            inside = (pix[..., 0] >= 0) & (pix[..., 0] < w) & (pix[..., 1] >= 0) & (pix[..., 1] < h)
            index = np.where(inside, pix[..., 1] * w + pix[..., 0], 0)
            values = flat[index]                                                # (N, F, C) uint8
            grey_values = values[..., 0] if values.shape[-1] == 1 else values.astype(np.uint16).sum(-1) // 3
            feats = np.where(inside, grey_values.astype(np.float32), np.float32(0))  # (N, F)
            trees = np.arange(level.idx1.shape[0])[None, :]
            node = np.zeros((n, level.idx1.shape[0]), np.int64)
            splits = level.idx1.shape[1]
            while True:
                active = node < splits
                if not active.any():
                    break
                safe = np.minimum(node, splits - 1)
                a = feats[rows, level.idx1[trees, safe]]
                b = feats[rows, level.idx2[trees, safe]]
                go_left = (a - b) > level.thresh[trees, safe]
                node = np.where(active, np.where(go_left, 2 * node + 1, 2 * node + 2), node)
            updates = level.leaves[trees, node - splits]       # (N, T, 2P)
            # Sequential float32 accumulation, tree by tree, as dlib adds them.
            seq = np.concatenate([shape.reshape(n, 1, -1), updates], axis=1)
            shape = np.cumsum(seq, axis=1, dtype=np.float32)[:, -1].reshape(n, -1, 2)
        points = np.floor(shape.astype(np.float64) * extent + origin + 0.5)
        return points.astype(np.float32)


def _read_level_trees(r: DlibReader, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One cascade level: all its trees share one depth and one leaf size, so the level is
    read as one block of integers and reshaped; the layout is checked tree by tree."""
    n_trees = r.length(f"level {level} trees", 1 << 16)
    start = r.pos
    with r.record(f"level {level} tree 0"):
        n_splits = r.length("splits", 1 << 16)
        r.ints(4 * n_splits, "splits")
        n_leaves = r.length("leaves", 1 << 20)
        if n_leaves != n_splits + 1:
            raise r.fail(f"a tree with {n_splits} splits has {n_leaves} leaves")
        rows, cols = abs(r.int("leaf rows")), abs(r.int("leaf cols"))
    leaf = rows * cols
    per_tree = 1 + 4 * n_splits + 1 + n_leaves * (2 + 2 * leaf)
    r.pos = start
    with r.record(f"level {level} trees"):
        block = r.ints(per_tree * n_trees, f"{n_trees} trees").reshape(n_trees, per_tree)
    split_part = block[:, 1:1 + 4 * n_splits].reshape(n_trees, n_splits, 4)
    leaf_part = block[:, 2 + 4 * n_splits:].reshape(n_trees, n_leaves, 2 + 2 * leaf)
    layout_ok = (
        (block[:, 0] == n_splits).all() and (block[:, 1 + 4 * n_splits] == n_leaves).all()
        and (np.abs(leaf_part[:, :, 0]) == rows).all() and (np.abs(leaf_part[:, :, 1]) == cols).all()
    )
    if not layout_ok:
        raise r.fail(f"the trees of cascade level {level} differ in size")
    thresh = np.ldexp(split_part[..., 2].astype(np.float64), split_part[..., 3].astype(np.int32)).astype(np.float32)
    pairs = leaf_part[:, :, 2:].reshape(n_trees, n_leaves, leaf, 2)
    leaves = np.ldexp(pairs[..., 0].astype(np.float64), pairs[..., 1].astype(np.int32)).astype(np.float32)
    return split_part[..., 0], split_part[..., 1], thresh, leaves


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> ShapePredictor:
    r = DlibReader.open(path)
    with r.record("shape_predictor"):
        r.version((1,), "shape_predictor")
        with r.record("initial_shape"):
            initial = r.float_matrix("initial shape").reshape(-1)
        if initial.size != 2 * NUM_POINTS:
            raise DlibFormatError(
                f"{Path(path).name}: a {initial.size // 2}-point shape model; only the public-domain "
                f"5-point model (shape_predictor_5_face_landmarks.dat) is supported ({path})"
            )
        with r.record("forests"):
            n_levels = r.length("cascade levels", 1024)
            trees = [_read_level_trees(r, i) for i in range(n_levels)]
        with r.record("anchor_idx"):
            if r.length("anchor levels", 1024) != n_levels:
                raise r.fail("anchor levels do not match the cascade")
            anchors = [r.ints(r.length("anchors"), "anchor indices") for _ in range(n_levels)]
        with r.record("deltas"):
            if r.length("delta levels", 1024) != n_levels:
                raise r.fail("delta levels do not match the cascade")
            deltas = [r.floats(2 * r.length("deltas"), "pixel deltas").reshape(-1, 2) for _ in range(n_levels)]
    levels = []
    for i, ((i1, i2, th, lv), anc, dl) in enumerate(zip(trees, anchors, deltas)):
        if len(anc) != len(dl) or (anc.size and anc.max() >= NUM_POINTS) or (i1.size and max(i1.max(), i2.max()) >= len(dl)):
            raise DlibFormatError(f"{Path(path).name}: inconsistent feature indices in cascade level {i} ({path})")
        levels.append(_Level(i1, i2, th, lv.astype(np.float32), anc, dl.astype(np.float32)))
    log.info("5-point shape model: %d levels x %d trees from %s", len(levels), levels[0].idx1.shape[0] if levels else 0, path)
    return ShapePredictor(initial, levels, Path(path))


def load_shape_predictor(path: str | Path) -> ShapePredictor:
    """The 5-point model of ``path`` (parsed once per process; DlibFormatError when unreadable)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise DlibFormatError(f"cannot read dlib model file {path}: {exc.strerror or exc}") from exc
    return _load_cached(str(path), mtime)
