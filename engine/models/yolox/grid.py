"""The anchor-free point grid under YOLOX's output rows.

For an input of W x H pixels (multiples of 32) each stride s in ``STRIDES`` has a
(H/s) x (W/s) grid; row k of the network's output belongs to level l, column gx, row gy
(levels in stride order, row-major within a level). A row's raw box values tx, ty, tw, th
decode to a box centred at ((tx + gx) * s, (ty + gy) * s), of size (exp(tw) * s,
exp(th) * s), in input pixels.
"""

from __future__ import annotations

import torch

from engine.models.yolox.model import STRIDES


def grid_points(input_size: tuple[int, int], device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32,
                strides: tuple[int, ...] = STRIDES) -> tuple[torch.Tensor, torch.Tensor]:
    """((A, 2) grid coordinates (gx, gy) of every output row, (A,) their strides in pixels)
    for an input (width, height)."""
    width, height = input_size
    cells, steps = [], []
    for s in strides:
        gy, gx = torch.meshgrid(torch.arange(height // s, device=device), torch.arange(width // s, device=device),
                                indexing="ij")
        cells.append(torch.stack([gx, gy], dim=-1).reshape(-1, 2))
        steps.append(torch.full((cells[-1].shape[0],), float(s), device=device))
    return torch.cat(cells).to(dtype), torch.cat(steps).to(dtype)


def decode_boxes(raw_boxes: torch.Tensor, cells: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """(..., A, 4) raw tx, ty, tw, th -> (..., A, 4) x1 y1 x2 y2 in input pixels."""
    s = strides[:, None]
    centre = (raw_boxes[..., 0:2] + cells) * s
    # exp of a wild untrained value would overflow to inf and poison the IoU loss.
    size = torch.exp(raw_boxes[..., 2:4].clamp(max=10.0)) * s
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)
