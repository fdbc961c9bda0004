"""From a set prediction (DETR family) to boxes in frame pixels: no NMS.

DETR-style detectors (RT-DETR, RT-DETRv2, D-FINE) give, for each of Q object queries, a
score per class (logits, independent sigmoids: trained with focal loss) and one box
(cx, cy, w, h as fractions of the network input). Training matched each object to one
query, so duplicates are rare and no non-maximum suppression is needed. The
post-processing is the one Hugging Face transformers' ``post_process_object_detection``
(``use_focal_loss=True``) defines:

1. scores = sigmoid(logits) over all Q x C (query, class) pairs;
2. the k best pairs (k = Q: a query may appear with two classes);
3. boxes cxcywh -> x1 y1 x2 y2, scaled by the frame's width and height (the input was
   stretched over the whole frame, so fractions of the input are fractions of the frame);
4. keep scores > threshold (strictly).

Coordinates out: pixels of the original frame; ``clip`` clamps them to it (the app's
convention for ``Detections``; transformers leaves them unclipped).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SetDetections:
    """One image's kept predictions, best first.

    boxes: (K, 4) float32 x1 y1 x2 y2 frame pixels. scores: (K,) float32 0..1. labels:
    (K,) int64 class indices. queries: (K,) int64 index of the query that predicted each.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    queries: torch.Tensor


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) centre x, centre y, width, height -> (..., 4) x1 y1 x2 y2 (same units)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def postprocess_set(logits: torch.Tensor, boxes: torch.Tensor, frame_size: tuple[int, int], threshold: float, *,
                    top_k: int | None = None, class_mask: torch.Tensor | None = None,
                    clip: bool = True) -> SetDetections:
    """The detections of one image from its (Q, C) logits and (Q, 4) cxcywh boxes in 0..1.

    frame_size: (width, height) of the original frame in pixels. threshold: keep scores
    strictly above it. top_k: pairs considered (None: Q, as transformers does).
    class_mask: (C,) bool of allowed classes (None: all); disallowed classes never take a
    top-k place. clip: clamp boxes to the frame.
    """
    if logits.dim() == 3:
        logits, boxes = logits[0], boxes[0]
    num_queries, num_classes = logits.shape
    scores = torch.sigmoid(logits.float())
    if class_mask is not None:
        scores = scores.masked_fill(~class_mask.to(scores.device)[None, :], 0.0)
    k = min(top_k or num_queries, num_queries * num_classes)
    best, index = torch.topk(scores.flatten(), k)
    labels = index % num_classes
    queries = index // num_classes
    keep = best > threshold
    best, labels, queries = best[keep], labels[keep], queries[keep]
    width, height = frame_size
    scale = torch.tensor([width, height, width, height], dtype=torch.float32, device=boxes.device)
    xyxy = cxcywh_to_xyxy(boxes.float()[queries]) * scale
    if clip:
        xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width)
        xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height)
    return SetDetections(xyxy, best, labels.long(), queries.long())
