"""Box arithmetic shared by every detector: conversions, IoU and class-wise NMS.

Boxes are float tensors/arrays of shape (N, 4) as x1, y1, x2, y2 in pixels unless a name
says otherwise (``cxcywh``: centre x, centre y, width, height). Zero-area boxes are valid
and have IoU 0 with everything.
"""

from __future__ import annotations

import numpy as np
import torch


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
    each other. Equal scores keep their input order. Returns int64 indices on the boxes'
    device.

    Greedy NMS in float64 NumPy on the host: the candidates are few after the score
    threshold, and this keeps detection free of torchvision (whose import pulls in
    torch._dynamo, seconds of start-up for every command).
    """
    device = boxes.device
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    keep = greedy_nms(boxes.detach().cpu().double().numpy().reshape(-1, 4),
                      scores.detach().cpu().double().numpy().reshape(-1),
                      class_ids.detach().cpu().numpy().reshape(-1), float(iou_threshold), max_detections)
    return torch.from_numpy(keep).to(device)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float,
               max_detections: int | None = None) -> np.ndarray:
    """``class_nms`` on arrays: (N, 4) xyxy boxes, (N,) scores, (N,) class ids -> (K,) int64."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    area = np.maximum(x2 - x1, 0.0) * np.maximum(y2 - y1, 0.0)
    limit = len(order) if max_detections is None else max(0, int(max_detections))
    kept: list[int] = []
    while order.size and len(kept) < limit:
        i = int(order[0])
        kept.append(i)
        rest = order[1:]
        if not rest.size:
            break
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.maximum(w, 0.0) * np.maximum(h, 0.0)
        union = area[i] + area[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        order = rest[(iou <= iou_threshold) | (class_ids[rest] != class_ids[i])]
    return np.asarray(kept, dtype=np.int64)
