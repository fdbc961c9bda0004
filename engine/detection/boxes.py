"""Box arithmetic shared by every detector: conversions, IoU and class-wise NMS.

Boxes are float tensors/arrays of shape (N, 4) as x1, y1, x2, y2 in pixels unless a name
says otherwise (``cxcywh``: centre x, centre y, width, height). Zero-area boxes are valid
and have IoU 0 with everything.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import batched_nms


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 4) cx, cy, w, h -> (N, 4) x1, y1, x2, y2 (same units)."""
    half = boxes[:, 2:4] * 0.5
    return torch.cat([boxes[:, 0:2] - half, boxes[:, 0:2] + half], dim=1)


def box_iou(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M) float64 array."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def class_nms(boxes: torch.Tensor, scores: torch.Tensor, class_ids: torch.Tensor,
              iou_threshold: float, max_detections: int | None = None) -> torch.Tensor:
    """Indices of the boxes kept by per-class greedy NMS, highest score first.

    A box is dropped when it overlaps a higher-scoring box *of the same class* by IoU
    strictly greater than ``iou_threshold``; boxes of different classes never suppress
    each other.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    keep = batched_nms(boxes.float(), scores.float(), class_ids, float(iou_threshold))
    if max_detections is not None:
        keep = keep[:max_detections]
    return keep
