"""What the course view shows for an anchor-free detector (YOLOX), without Qt: each
stride's lattice of grid points and, for a selected detection, the point that predicted it
and a one-line explanation. Points are in frame pixels (through the detections' input ->
frame mapping), ready to be drawn over the frame like the Darknet grid-and-anchor view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.features.detect.backends.yolox.decode import grid_point_centres, point_centres
from engine.features.detect.types import Detections


@dataclass(frozen=True)
class PointLevel:
    """One output level: its stride (input pixels between points), grid size and every
    point's centre, (rows * cols, 2) float32 frame pixels, row by row."""

    stride: int
    cols: int
    rows: int
    points: np.ndarray


@dataclass(frozen=True)
class PredictingPoint:
    """The grid point behind detection ``index``: its level, grid cell, centre in frame
    pixels, and the explanation shown beside it."""

    index: int
    level: int
    grid_x: int
    grid_y: int
    centre: tuple[float, float]
    text: str


def is_anchor_free(detections: Detections) -> bool:
    return bool(detections.extra.get("anchor_free")) and detections.mapping is not None and bool(detections.grids)


def point_levels(detections: Detections) -> list[PointLevel]:
    """Every level's grid points in frame pixels ([] for detections of other detectors)."""
    if not is_anchor_free(detections):
        return []
    mapping = detections.mapping
    levels = []
    for grid in detections.grids:
        centres = grid_point_centres(grid)
        x, y = mapping.to_frame(centres[:, 0], centres[:, 1])
        levels.append(PointLevel(grid.stride, grid.cols, grid.rows, np.stack([x, y], axis=1).astype(np.float32)))
    return levels


def predicting_point(detections: Detections, index: int) -> PredictingPoint | None:
    """The point that predicted detection ``index`` (None when there is none to show)."""
    if not is_anchor_free(detections) or detections.origins is None or not 0 <= index < len(detections):
        return None
    level, gx, gy, _ = (int(v) for v in detections.origins[index])
    grid = detections.grids[level]
    px, py = (float(v) for v in point_centres(detections.origins[index:index + 1], detections.grids)[0])
    fx, fy = detections.mapping.to_frame(px, py)
    mapping = detections.mapping
    text = (f"{detections.labels[index]} {detections.scores[index]:.2f}: stride {grid.stride} "
            f"({grid.cols}x{grid.rows} points), point ({gx}, {gy}) at {px:g},{py:g} px of the "
            f"{mapping.input_width}x{mapping.input_height} input; no anchors: the box centre is "
            f"(point + offset) x {grid.stride}, its size exp(t) x {grid.stride}")
    return PredictingPoint(index, level, gx, gy, (float(fx), float(fy)), text)
