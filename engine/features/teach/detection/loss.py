"""Which grid points answer for which object, and the detector's loss.

YOLOX predicts at every point of its grids (no anchors), so training must decide, per
picture, which points are positives for which truth box. We follow the idea of the
YOLOX paper (a dynamic, cost-based choice limited by a centre prior), in our own terms:

1. Centre prior: a point may answer for a box when its cell centre lies inside the box
   *and* within ``radius`` strides of the box's centre (points of every level compete, so
   each box finds the level whose stride suits its size).
2. Cost of point p for box g: ``-log(class prob x objectness)`` of g's class at p, plus
   ``IOU_WEIGHT x -log IoU(p's box, g)``; points outside the prior cost ``OUTSIDE``.
3. Dynamic count: box g takes its k cheapest points, k = the sum of its ``TOP_IOUS``
   best IoUs (at least 1): a box the network already finds well gets more positives.
4. A point chosen by several boxes keeps the cheapest.

Loss over a batch, each term divided by the number of positives:
``BOX_WEIGHT x (1 - GIoU)`` on the positives' boxes, binary cross-entropy of objectness
on every point (1 at positives), and binary cross-entropy of the class scores on the
positives with the IoU as the target of the right class (scores learn to rank good boxes
first, what mAP rewards).

Shapes: A points, C classes, G truth boxes; boxes x1 y1 x2 y2 in network-input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

RADIUS = 2.5
IOU_WEIGHT = 3.0
OUTSIDE = 1e5
TOP_IOUS = 10
BOX_WEIGHT = 5.0
EPS = 1e-7


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, 4), (M, 4) -> (N, M) IoU."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + EPS)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4) paired boxes -> ((N,) 1 - generalised IoU, (N,) plain IoU, no gradient)."""
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_p = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(-1)
    area_t = (target[:, 2:] - target[:, :2]).clamp(min=0).prod(-1)
    union = area_p + area_t - inter + EPS
    iou = inter / union
    hull = (torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])).prod(-1) + EPS
    return 1 - (iou - (hull - union) / hull), iou.detach()


@dataclass
class Assignment:
    """Positives of one picture: ``points`` (P,) indices into the A points, ``boxes`` (P,)
    the truth box each answers for."""

    points: torch.Tensor
    boxes: torch.Tensor


@torch.no_grad()
def assign(centres: torch.Tensor, strides: torch.Tensor, pred_boxes: torch.Tensor, cls_logits: torch.Tensor,
           obj_logits: torch.Tensor, truth_boxes: torch.Tensor, truth_ids: torch.Tensor) -> Assignment:
    """The positives of one picture (module docstring, steps 1-4).

    centres (A, 2) cell centres in input pixels; strides (A,); pred_boxes (A, 4);
    cls_logits (A, C); obj_logits (A,); truth_boxes (G, 4); truth_ids (G,) int64.
    """
    empty = torch.zeros(0, dtype=torch.long, device=centres.device)
    if len(truth_boxes) == 0:
        return Assignment(empty, empty)
    x, y = centres[:, 0], centres[:, 1]
    tb = truth_boxes
    inside = (x[None] > tb[:, 0:1]) & (x[None] < tb[:, 2:3]) & (y[None] > tb[:, 1:2]) & (y[None] < tb[:, 3:4])
    tcx, tcy = (tb[:, 0:1] + tb[:, 2:3]) / 2, (tb[:, 1:2] + tb[:, 3:4]) / 2
    reach = RADIUS * strides[None]
    near = ((x[None] - tcx).abs() < reach) & ((y[None] - tcy).abs() < reach)
    prior = inside & near  # (G, A)
    # A box smaller than its nearest cell has no point inside: let the near ones answer.
    lonely = ~prior.any(1)
    prior[lonely] = near[lonely]
    candidates = torch.nonzero((inside | near).any(0)).squeeze(1)
    if candidates.numel() == 0:
        return Assignment(empty, empty)
    prior = prior[:, candidates]
    ious = box_iou(tb, pred_boxes[candidates])  # (G, K)
    probs = (cls_logits[candidates].sigmoid() * obj_logits[candidates, None].sigmoid()).sqrt()  # (K, C)
    cls_cost = -torch.log(probs[:, truth_ids].T.clamp(min=EPS))  # (G, K)
    cost = cls_cost + IOU_WEIGHT * -torch.log(ious + EPS) + OUTSIDE * (~prior)
    top = torch.topk(ious, min(TOP_IOUS, ious.shape[1]), dim=1).values
    k = top.sum(1).int().clamp(min=1)  # (G,)
    order = cost.argsort(dim=1)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    chosen = (ranks < k[:, None]) & prior  # (G, K)
    cost = cost.masked_fill(~chosen, float("inf"))
    best_box = cost.argmin(0)  # a point chosen by several boxes keeps the cheapest
    picked = chosen.any(0)
    return Assignment(candidates[picked], best_box[picked])


@dataclass
class LossParts:
    total: torch.Tensor
    box: float
    objectness: float
    classes: float
    positives: int

    def as_dict(self) -> dict[str, float]:
        return {"box": self.box, "objectness": self.objectness, "classes": self.classes}


def detection_loss(raw: torch.Tensor, cells: torch.Tensor, strides: torch.Tensor,
                   truths: list[tuple[torch.Tensor, torch.Tensor]]) -> LossParts:
    """The loss of a batch.

    raw (B, A, 5 + C): the network's rows with logits (``model(x, logits=True)``);
    cells (A, 2) grid coordinates and strides (A,) of the rows (``engine.models.yolox.grid``);
    truths: per picture (boxes (G, 4) input pixels, class ids (G,) int64).
    """
    from engine.models.yolox.grid import decode_boxes

    num_classes = raw.shape[2] - 5
    boxes = decode_boxes(raw[..., :4], cells, strides)  # (B, A, 4)
    centres = (cells + 0.5) * strides[:, None]
    obj_target = torch.zeros_like(raw[..., 4])
    pred_pos, truth_pos, cls_pos, id_pos = [], [], [], []
    for b, (truth_boxes, truth_ids) in enumerate(truths):
        found = assign(centres, strides, boxes[b].detach(), raw[b, :, 5:].detach(), raw[b, :, 4].detach(),
                       truth_boxes, truth_ids)
        if found.points.numel() == 0:
            continue
        obj_target[b, found.points] = 1.0
        pred_pos.append(boxes[b, found.points])
        truth_pos.append(truth_boxes[found.boxes])
        cls_pos.append(raw[b, found.points, 5:])
        id_pos.append(truth_ids[found.boxes])
    positives = sum(len(p) for p in pred_pos)
    norm = max(positives, 1)
    obj_loss = F.binary_cross_entropy_with_logits(raw[..., 4], obj_target, reduction="sum") / norm
    if positives:
        box_terms, ious = giou_loss(torch.cat(pred_pos), torch.cat(truth_pos))
        box_loss = box_terms.sum() / norm
        cls_target = F.one_hot(torch.cat(id_pos), num_classes).to(raw.dtype) * ious[:, None].clamp(min=0.05)
        cls_loss = F.binary_cross_entropy_with_logits(torch.cat(cls_pos), cls_target, reduction="sum") / norm
    else:
        box_loss = cls_loss = raw.sum() * 0.0
    total = BOX_WEIGHT * box_loss + obj_loss + cls_loss
    return LossParts(total, float(box_loss.detach()), float(obj_loss.detach()), float(cls_loss.detach()), positives)
