"""Whether a compiled DETR-style network predicts the same set as the eager one.

``BackgroundCompiled`` compares a compiled network's outputs with eager ones element by
element (engine.runtime.compiled.mismatch). That is wrong for a set predictor: the
encoder keeps its Q best tokens with a top-k over scores that are often nearly tied, and
another summation order (a fused kernel) lists the same queries in another order, or
swaps the last one kept for its runner-up. The decoder treats its queries as a set
(self-attention has no order), so the predictions are the same objects in another
order, and index-by-index comparison reports differences as large as the outputs.
Measured on dfine-n (seeded random weights, fp32, inductor): logits up to 0.12 apart by
index, while every query's prediction has a counterpart within 2e-6.

``query_set_mismatch`` compares the set instead: each query's row (its class logits, its
box, its per-layer boxes and proposal logit when the network gives them) must have a
counterpart in the other output within the tolerance, for at least ``AGREEMENT`` of the
queries in both directions (the same 0.98 that "auto" precision asks of detections).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.runtime.compiled import Tolerance, mismatch

#: The share of queries, each way, that must find a counterpart.
AGREEMENT = 0.98


def query_rows(outputs: Any) -> list[torch.Tensor]:
    """The per-query parts of one image's DETR outputs, each (Q, F) float32.

    outputs: (logits (1, Q, C), boxes (1, Q, 4)[, layer_boxes (1, L + 1, Q, 4)[,
    proposal_logits (1, Q)]]), the contract of detr/detector.py.
    """
    logits, boxes = outputs[0][0], outputs[1][0]
    parts = [logits, boxes]
    if len(outputs) > 2:
        layers = outputs[2][0]
        parts.append(layers.permute(1, 0, 2).flatten(1))
    if len(outputs) > 3:
        parts.append(outputs[3][0][:, None])
    return [p.detach().float() for p in parts]


def _distance(compiled: torch.Tensor, eager: torch.Tensor, tolerance: Tolerance) -> torch.Tensor:
    """(Qe, Qc): for each eager row and compiled row, the largest element difference in
    units of what the tolerance allows there (<= 1: they agree)."""
    scale = float(eager.abs().max()) if eager.numel() else 0.0
    allowed = tolerance.atol * max(scale, 1e-6) + tolerance.rtol * eager.abs()  # (Qe, F)
    return ((eager[:, None, :] - compiled[None, :, :]).abs() / allowed[:, None, :]).amax(-1)


def query_set_mismatch(compiled: Any, eager: Any, tolerance: Tolerance) -> str | None:
    """Why the compiled network's set of query predictions differs from eager's, or None.

    Shapes must match exactly (else the element-wise ``mismatch`` says why); then query q
    of eager agrees with query p of compiled when every part of their rows is within
    ``tolerance`` (relative to that part's largest eager value, as ``mismatch`` scales),
    and at least ``AGREEMENT`` of the queries of each must agree with some query of the other.
    """
    if math.isinf(tolerance.atol) or math.isinf(tolerance.rtol):  # bench's --unchecked-compile
        return None
    if not isinstance(compiled, (tuple, list)) or not isinstance(eager, (tuple, list)) or len(eager) < 2:
        return mismatch(compiled, eager, tolerance)
    if len(compiled) != len(eager) or any(c.shape != e.shape for c, e in zip(compiled, eager)):
        return mismatch(compiled, eager, tolerance)
    got, want = query_rows(compiled), query_rows(eager)
    if any(not torch.isfinite(part).all() for part in got) and all(torch.isfinite(part).all() for part in want):
        return "the compiled network gives non-finite values"
    distance = torch.stack([_distance(c, e, tolerance) for c, e in zip(got, want)]).amax(0)  # (Qe, Qc)
    queries = distance.shape[0]
    if queries == 0:
        return None
    eager_found = float((distance.amin(1) <= 1).float().mean())
    compiled_found = float((distance.amin(0) <= 1).float().mean())
    if min(eager_found, compiled_found) < AGREEMENT:
        closest = float(distance.amin(1).max())
        return (f"{eager_found:.0%} of eager's {queries} queries have a compiled counterpart and "
                f"{compiled_found:.0%} the other way (need {AGREEMENT:.0%}); the worst is {closest:.3g}x the tolerance")
    return None
