"""Turn raw YOLO head outputs into boxes, scores and the grid cell / anchor behind each.

For a head with an S_h x S_w grid and A anchors, each cell (gx, gy) and anchor a predicts
(tx, ty, tw, th, to, tc_1..tc_C). With sigma the logistic function, scale s = scale_x_y,
the cfg's network input size (W, H) and anchor (aw, ah) in network-input pixels:

    cx = (gx + (sigma(tx) - 0.5) * s + 0.5) / S_w        (normalised 0..1 of the input)
    cy = (gy + (sigma(ty) - 0.5) * s + 0.5) / S_h
    w  = exp(tw) * aw / W,   h = exp(th) * ah / H
    objectness = sigma(to),  p(class c) = sigma(tc_c)

With ``new_coords=1`` (YOLOv4-CSP, YOLOv7) the head's convolution already ends in a
logistic, so the values are used as they are and w = 4 * tw^2 * aw / W (h likewise).

A detection's score is objectness x class probability for its best class. Rows are
ordered head by head, then gy, gx, anchor — the order of OpenCV's Darknet importer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.features.detect.backends.darknet.model import YoloHeadSpec


@dataclass(frozen=True)
class DecodedRows:
    """Every prediction of every head, before thresholds.

    boxes: (N, 4) cx, cy, w, h normalised to the network input (0..1).
    objectness: (N,). class_probs: (N, C) — *not* multiplied by objectness.
    """

    boxes: torch.Tensor
    objectness: torch.Tensor
    class_probs: torch.Tensor


class YoloDecoder:
    """Vectorised decoder with per-(grid size, device, dtype) cached grids and anchors."""

    def __init__(self, heads: tuple[YoloHeadSpec, ...]) -> None:
        self.heads = heads
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _grid(self, i: int, gh: int, gw: int, in_h: int, in_w: int, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (i, gh, gw, in_h, in_w, ref.device, ref.dtype)
        cached = self._cache.get(key)
        if cached is None:
            head = self.heads[i]
            ys, xs = torch.meshgrid(torch.arange(gh, device=ref.device), torch.arange(gw, device=ref.device),
                                    indexing="ij")
            # (1, gh, gw, 1, 2): cell offsets, added to the in-cell centre estimate.
            grid = torch.stack([xs, ys], dim=-1).reshape(1, gh, gw, 1, 2).to(ref.dtype)
            anchors = torch.as_tensor(head.anchors, device=ref.device, dtype=torch.float32)
            # Anchors in units of the input size so that w, h come out normalised.
            anchors = (anchors / torch.tensor([in_w, in_h], device=ref.device, dtype=torch.float32))
            cached = (grid, anchors.reshape(1, 1, 1, -1, 2).to(ref.dtype))
            self._cache[key] = cached
        return cached

    def head_rows(self, i: int, raw: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
        """One head's (B, A*(5+C), gh, gw) output -> (B, gh*gw*A, 5+C) decoded rows:
        cx, cy, w, h (normalised), objectness, class probabilities."""
        head = self.heads[i]
        b, _, gh, gw = raw.shape
        k = 5 + head.num_classes
        t = raw.reshape(b, head.num_anchors, k, gh, gw).permute(0, 3, 4, 1, 2)  # b, gh, gw, A, k
        grid, anchors = self._grid(i, gh, gw, input_hw[0], input_hw[1], raw)
        scale = head.scale_x_y
        sizes = torch.tensor([gw, gh], device=raw.device, dtype=raw.dtype)
        if head.new_coords:
            xy = ((t[..., 0:2] - 0.5) * scale + 0.5 + grid) / sizes
            wh = t[..., 2:4].square() * 4.0 * anchors
            rest = t[..., 4:]
        else:
            xy = ((t[..., 0:2].sigmoid() - 0.5) * scale + 0.5 + grid) / sizes
            wh = t[..., 2:4].exp() * anchors
            rest = t[..., 4:].sigmoid()
        return torch.cat([xy, wh, rest], dim=-1).reshape(b, gh * gw * head.num_anchors, k)

    def candidate_rows(self, raw_outputs: list[torch.Tensor], input_hw: tuple[int, int],
                       min_objectness: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode only the predictions whose objectness exceeds ``min_objectness``.

        A score is objectness x class probability, so it never exceeds the objectness:
        cells below the confidence threshold can be dropped before their box and C class
        probabilities are decoded (on a live frame that is almost all of them). Batch
        item 0 only. Returns (rows (M, 5+C) as ``rows`` lays them out, their indices (M,)
        into ``rows``' order, usable with ``provenance``).
        """
        parts: list[torch.Tensor] = []
        indices: list[torch.Tensor] = []
        start = 0
        in_h, in_w = input_hw
        for i, raw in enumerate(raw_outputs):
            head = self.heads[i]
            _, _, gh, gw = raw.shape
            a_count, k = head.num_anchors, 5 + head.num_classes
            t = raw[0].reshape(a_count, k, gh, gw)
            objectness = t[:, 4]  # (A, gh, gw)
            if not head.new_coords:
                objectness = objectness.sigmoid()
            a, gy, gx = torch.nonzero(objectness > min_objectness, as_tuple=True)
            picked = t[a, :, gy, gx]  # (M, k) for the surviving (anchor, cell) pairs
            anchors = torch.as_tensor(head.anchors, device=raw.device, dtype=torch.float32)[a]
            anchors = (anchors / torch.tensor([in_w, in_h], device=raw.device, dtype=torch.float32)).to(raw.dtype)
            cells = torch.stack([gx, gy], dim=1).to(raw.dtype)
            sizes = torch.tensor([gw, gh], device=raw.device, dtype=raw.dtype)
            scale = head.scale_x_y
            if head.new_coords:
                xy = ((picked[:, 0:2] - 0.5) * scale + 0.5 + cells) / sizes
                wh = picked[:, 2:4].square() * 4.0 * anchors
                rest = picked[:, 4:]
            else:
                xy = ((picked[:, 0:2].sigmoid() - 0.5) * scale + 0.5 + cells) / sizes
                wh = picked[:, 2:4].exp() * anchors
                rest = picked[:, 4:].sigmoid()
            parts.append(torch.cat([xy, wh, rest], dim=1))
            indices.append(start + (gy * gw + gx) * a_count + a)
            start += gh * gw * a_count
        rows = torch.cat(parts, dim=0)
        index = torch.cat(indices, dim=0)
        order = torch.argsort(index)  # rows' order, so ties in NMS resolve as before
        return rows[order], index[order]

    def rows(self, raw_outputs: list[torch.Tensor], input_hw: tuple[int, int]) -> torch.Tensor:
        """All heads -> (B, N, 5+C) rows, head by head (OpenCV's layout)."""
        return torch.cat([self.head_rows(i, r, input_hw) for i, r in enumerate(raw_outputs)], dim=1)

    def provenance(self, row_index: torch.Tensor, raw_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """Row indices -> (N, 4) int64 [head, grid_x, grid_y, anchor] (anchor within the head)."""
        out = torch.empty((row_index.numel(), 4), dtype=torch.long, device=row_index.device)
        start = 0
        for i, (gh, gw) in enumerate(raw_shapes):
            a = self.heads[i].num_anchors
            count = gh * gw * a
            sel = (row_index >= start) & (row_index < start + count)
            local = row_index[sel] - start
            out[sel, 0] = i
            out[sel, 3] = local % a
            cell = local // a
            out[sel, 1] = cell % gw
            out[sel, 2] = cell // gw
            start += count
        return out
