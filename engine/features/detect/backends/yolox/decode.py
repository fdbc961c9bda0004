"""YOLOX's anchor-free grid: raw head rows -> boxes in network-input pixels, and back to
the grid point that predicted each box.

For an input of W x H pixels, each stride s in (8, 16, 32) has a (H/s) x (W/s) grid of
points; row k of the raw output (see ``engine.models.yolox.model``) belongs to level l, column gx, row gy
(levels in stride order, row-major within a level). With its raw values tx, ty, tw, th:

    cx = (tx + gx) * s,   cy = (ty + gy) * s,   w = exp(tw) * s,   h = exp(th) * s

in input pixels (Megvii's ``decode_outputs``): a box is predicted relative to its point,
its size in units of the point's stride — as if each point had one square "anchor" of
s x s, which is how ``HeadGrid.anchors`` states it. The point itself is drawn at its
cell's centre ((gx + 0.5) * s, (gy + 0.5) * s), where training's centre prior (SimOTA)
measures whether an object's centre is near enough for the point to answer for it.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.features.detect.types import HeadGrid
from engine.models.yolox.model import STRIDES


def level_shapes(input_size: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> list[tuple[int, int]]:
    """(rows, cols) of each level's grid for an input (width, height) in multiples of 32."""
    width, height = input_size
    return [(height // s, width // s) for s in strides]


def head_grids(input_size: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> tuple[HeadGrid, ...]:
    """The levels as ``HeadGrid``s: one s x s "anchor" per point (see the module docstring)."""
    return tuple(HeadGrid(cols=cols, rows=rows, stride=s, anchors=np.array([[s, s]], np.float32), mask=(0,))
                 for (rows, cols), s in zip(level_shapes(input_size, strides), strides))


class GridDecoder:
    """Decodes raw rows for one input size at a time; the point grid is cached per
    (size, device, dtype)."""

    def __init__(self, strides: tuple[int, ...] = STRIDES) -> None:
        self.strides = strides
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def points(self, input_size: tuple[int, int], device: torch.device,
               dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, 2) grid coordinates (gx, gy) of every row and (A, 1) their strides."""
        key = (tuple(input_size), device, dtype)
        cached = self._cache.get(key)
        if cached is None:
            cells, strides = [], []
            for (rows, cols), s in zip(level_shapes(input_size, self.strides), self.strides):
                gy, gx = torch.meshgrid(torch.arange(rows, device=device), torch.arange(cols, device=device),
                                        indexing="ij")
                cells.append(torch.stack([gx, gy], dim=-1).reshape(-1, 2))
                strides.append(torch.full((rows * cols, 1), float(s), device=device))
            cached = (torch.cat(cells).to(dtype), torch.cat(strides).to(dtype))
            self._cache = {key: cached}  # one size at a time: a size change replaces it
        return cached

    def boxes(self, raw_rows: torch.Tensor, index: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
        """Rows (M, 5 + C) picked at ``index`` (M,) of the A rows -> (M, 4) x1 y1 x2 y2 in
        input pixels."""
        cells, strides = self.points(input_size, raw_rows.device, raw_rows.dtype)
        s = strides[index]
        centre = (raw_rows[:, 0:2] + cells[index]) * s
        size = torch.exp(raw_rows[:, 2:4]) * s
        return torch.cat([centre - size / 2, centre + size / 2], dim=1)

    def provenance(self, index: torch.Tensor, input_size: tuple[int, int]) -> np.ndarray:
        """Row indices (M,) -> (M, 4) int64 [level, grid_x, grid_y, 0] (the last column is
        the anchor of ``Detections.origins``: YOLOX has one point per cell)."""
        out = np.zeros((int(index.numel()), 4), np.int64)
        rows_of = index.detach().cpu().numpy().astype(np.int64)
        start = 0
        for level, (rows, cols) in enumerate(level_shapes(input_size, self.strides)):
            count = rows * cols
            sel = (rows_of >= start) & (rows_of < start + count)
            local = rows_of[sel] - start
            out[sel, 0] = level
            out[sel, 1] = local % cols
            out[sel, 2] = local // cols
            start += count
        return out


def point_centres(origins: np.ndarray, grids: tuple[HeadGrid, ...]) -> np.ndarray:
    """(N, 4) origins [level, gx, gy, _] -> (N, 2) float32 input-pixel centres of their points."""
    if len(origins) == 0:
        return np.zeros((0, 2), np.float32)
    strides = np.array([g.stride for g in grids], np.float32)[origins[:, 0]]
    return ((origins[:, 1:3].astype(np.float32) + 0.5) * strides[:, None]).astype(np.float32)


def grid_point_centres(grid: HeadGrid) -> np.ndarray:
    """Every point of one level, (rows * cols, 2) float32 input pixels, in row order."""
    gy, gx = np.mgrid[0:grid.rows, 0:grid.cols]
    return ((np.stack([gx, gy], axis=-1).reshape(-1, 2) + 0.5) * grid.stride).astype(np.float32)
