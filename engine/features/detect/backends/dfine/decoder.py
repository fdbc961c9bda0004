"""D-FINE's decoder: deformable cross-attention over the encoder's maps and Fine-grained
Distribution Refinement (FDR) of the boxes, with the Location Quality Estimator (LQE).

Conventions: boxes are (cx, cy, w, h) normalised to [0, 1] of the network input; queries
are (N, Q, C); ``shapes`` lists each level's (H, W) as Python ints, finest first (they come
from tensor shapes, so tracing and ``torch.compile`` see them as sizes, not data).

FDR in one paragraph: layer 0 predicts a coarse box ``b0`` (``pre_bbox_head``); from then
on each layer predicts, for each of the four edges, a distribution over ``max_num_bins + 1``
bins (logits added to the previous layer's: a residual refinement). The expected value
under a fixed non-uniform weighting W(n) (fine near 0, coarse at the ends, bounded by
``up * reg_scale``) is the edge's distance from ``b0``'s edge in units of b0's size /
reg_scale. The LQE adds to the class logits a score read from how peaked those
distributions are.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.features.detect.backends.detr.rtdetr import MLP
from engine.features.detect.backends.dfine.config import DFineSpec
from engine.features.detect.backends.dfine.layers import SelfAttention, activation


def deformable_sample(value: Tensor, shapes: list[tuple[int, int]], locations: Tensor, weights: Tensor,
                      points: tuple[int, ...]) -> Tensor:
    """Multi-scale deformable attention with ``grid_sample`` (bilinear, zero padding,
    ``align_corners=False``).

    value: (N, S, heads, Dh), S = sum of H*W over levels. locations: (N, Q, heads, P, 2)
    in [0, 1] (x, y) of each level's map, P = sum(points). weights: (N, Q, heads, P),
    softmaxed over P. Returns (N, Q, heads*Dh)."""
    n, _, heads, dh = value.shape
    q = locations.shape[1]
    per_level = value.permute(0, 2, 3, 1).flatten(0, 1).split([h * w for h, w in shapes], dim=-1)
    grids = (2 * locations.float() - 1).permute(0, 2, 1, 3, 4).flatten(0, 1).split(list(points), dim=-2)
    # Sampled in float32 whatever the model runs in: bfloat16 grid coordinates are off by up
    # to a few tenths of a pixel, and PyTorch's CPU bfloat16 grid_sample can return NaN.
    samples = [F.grid_sample(v.reshape(n * heads, dh, h, w).float(), g.float(), mode="bilinear",
                             padding_mode="zeros", align_corners=False).to(value.dtype)
               for v, g, (h, w) in zip(per_level, grids, shapes, strict=True)]
    # (N*heads, Dh, Q, P) * (N*heads, 1, Q, P), summed over the points
    w_ = weights.permute(0, 2, 1, 3).reshape(n * heads, 1, q, -1)
    out = (torch.cat(samples, dim=-1) * w_).sum(-1)
    return out.reshape(n, heads * dh, q).transpose(1, 2)


class DeformableAttention(nn.Module):
    """Keys ``sampling_offsets``, ``attention_weights``, buffer ``num_points_scale`` (1/P_l
    for each point of level l). No value or output projection (D-FINE has none)."""

    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        self.heads = s.decoder_heads
        self.points = tuple(s.n_points)
        self.offset_scale = s.offset_scale
        total = self.heads * sum(self.points)
        self.sampling_offsets = nn.Linear(s.d_model, total * 2)
        self.attention_weights = nn.Linear(s.d_model, total)
        self.register_buffer("num_points_scale",
                             torch.tensor([1.0 / p for p in self.points for _ in range(p)], dtype=torch.float32))

    def forward(self, queries: Tensor, memory: Tensor, shapes: list[tuple[int, int]], ref: Tensor) -> Tensor:
        """queries (N, Q, C), memory (N, S, C), ref (N, Q, 4) -> (N, Q, C)."""
        n, q, c = queries.shape
        p = sum(self.points)
        offsets = self.sampling_offsets(queries).reshape(n, q, self.heads, p, 2)
        weights = self.attention_weights(queries).reshape(n, q, self.heads, p).softmax(-1)
        # offsets are in units of the box size, shrunk for levels with more points
        scale = self.num_points_scale.to(queries.dtype)[:, None] * self.offset_scale
        locations = ref[:, :, None, None, :2] + offsets * scale * ref[:, :, None, None, 2:]
        value = memory.reshape(n, memory.shape[1], self.heads, c // self.heads)
        return deformable_sample(value, shapes, locations, weights, self.points)


class Gate(nn.Module):
    """Mixes the residual and the cross-attention output with learnt sigmoid gates."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * d, 2 * d)
        self.norm = nn.LayerNorm(d)

    def forward(self, residual: Tensor, x: Tensor) -> Tensor:
        g1, g2 = torch.sigmoid(self.gate(torch.cat([residual, x], dim=-1))).chunk(2, dim=-1)
        return self.norm(g1 * residual + g2 * x)


class DecoderLayer(nn.Module):
    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        d = s.d_model
        self.self_attn = SelfAttention(d, s.decoder_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d, eps=s.layer_norm_eps)
        self.encoder_attn = DeformableAttention(s)
        self.gateway = Gate(d)
        self.fc1 = nn.Linear(d, s.decoder_ffn_dim)
        self.fc2 = nn.Linear(s.decoder_ffn_dim, d)
        self.act = activation(s.decoder_act)
        self.final_layer_norm = nn.LayerNorm(d, eps=s.layer_norm_eps)

    def forward(self, x: Tensor, pos: Tensor, ref: Tensor, memory: Tensor, shapes: list[tuple[int, int]]) -> Tensor:
        x = self.self_attn_layer_norm(x + self.self_attn(x, pos))
        x = self.gateway(x, self.encoder_attn(x + pos, memory, shapes, ref))
        x = x + self.fc2(self.act(self.fc1(x)))
        # the clamp keeps fp16 finite, as the reference does
        return self.final_layer_norm(x.clamp(min=-65504, max=65504))


class LQE(nn.Module):
    """Location Quality Estimator: adds to the class logits a score from the top-k bin
    probabilities of each edge (and their mean)."""

    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        self.k = s.top_prob_values
        self.bins = s.max_num_bins + 1
        self.reg_conf = MLP(4 * (self.k + 1), s.lqe_hidden_dim, 1, s.lqe_layers)

    def forward(self, logits: Tensor, corners: Tensor) -> Tensor:
        n, q, _ = corners.shape
        prob = corners.reshape(n, q, 4, self.bins).softmax(-1)
        top = prob.topk(self.k, dim=-1).values
        stat = torch.cat([top, top.mean(-1, keepdim=True)], dim=-1).reshape(n, q, -1)
        return logits + self.reg_conf(stat)


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def weighting_function(bins: int, up: Tensor, reg_scale: Tensor) -> Tensor:
    """W(n), n = 0..bins: (bins + 1,) values, 0 in the middle, +-2 * |up * reg_scale| at the
    ends, geometric steps in between (fine near 0)."""
    bound = up.abs() * reg_scale.abs()                      # (1,)
    step = (bound + 1) ** (2.0 / (bins - 2))
    exps = torch.arange(1, bins // 2, device=up.device, dtype=up.dtype)
    right = step ** exps - 1
    return torch.cat([-2 * bound, -right.flip(0), torch.zeros_like(bound), right, 2 * bound])


def distances_to_box(anchor: Tensor, dist: Tensor, reg_scale: Tensor) -> Tensor:
    """anchor (.., 4) cxcywh, dist (.., 4) left/top/right/bottom in units of size/reg_scale,
    measured from the anchor's edges -> (.., 4) cxcywh."""
    r = reg_scale.abs()
    cx, cy, w, h = anchor.unbind(-1)
    x1 = cx - (0.5 * r + dist[..., 0]) * (w / r)
    y1 = cy - (0.5 * r + dist[..., 1]) * (h / r)
    x2 = cx + (0.5 * r + dist[..., 2]) * (w / r)
    y2 = cy + (0.5 * r + dist[..., 3]) * (h / r)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


class Decoder(nn.Module):
    """Keys ``layers query_pos_head reg_scale up pre_bbox_head lqe_layers class_embed
    bbox_embed``. Only layers 0..eval_layer run (later ones, kept for the keys, do not
    change the prediction)."""

    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        d, last = s.d_model, s.eval_layer
        self.last = last
        self.bins = s.max_num_bins
        self.layers = nn.ModuleList(DecoderLayer(s) for _ in range(s.decoder_layers + s.decoder_layers - last - 1))
        self.query_pos_head = MLP(4, 2 * d, d, 2)
        self.reg_scale = nn.Parameter(torch.tensor([s.reg_scale]), requires_grad=False)
        self.up = nn.Parameter(torch.tensor([s.up]), requires_grad=False)
        self.pre_bbox_head = MLP(d, d, 4, 3)
        self.lqe_layers = nn.ModuleList(LQE(s) for _ in range(s.decoder_layers))
        self.class_embed = nn.ModuleList(nn.Linear(d, s.num_labels) for _ in range(s.decoder_layers))
        scaled = round(s.layer_scale * d)
        out = 4 * (s.max_num_bins + 1)
        self.bbox_embed = nn.ModuleList([MLP(d, d, out, 3) for _ in range(last + 1)]
                                        + [MLP(scaled, scaled, out, 3) for _ in range(s.decoder_layers - last - 1)])

    def forward(self, queries: Tensor, ref_logits: Tensor, memory: Tensor, shapes: list[tuple[int, int]],
                course: dict | None = None) -> tuple[Tensor, Tensor]:
        """queries (N, Q, C), ref_logits (N, Q, 4) (inverse-sigmoid boxes), memory (N, S, C)
        -> logits (N, Q, num_labels), boxes (N, Q, 4). With ``course`` (a dict), also
        stores ``layer_boxes`` (N, L, Q, 4), the boxes after each layer that ran, and
        ``coarse_boxes`` (N, Q, 4), layer 0's coarse box (FDR's anchor)."""
        project = weighting_function(self.bins, self.up, self.reg_scale)
        ref = torch.sigmoid(ref_logits)
        x = queries
        prev_x: Tensor | float = 0.0
        corners = torch.zeros(())
        coarse = ref
        layer_boxes = []
        boxes = ref
        for i in range(self.last + 1):
            pos = self.query_pos_head(ref).clamp(min=-10, max=10)
            x = self.layers[i](x, pos, ref, memory, shapes)
            if i == 0:
                coarse = torch.sigmoid(self.pre_bbox_head(x) + inverse_sigmoid(ref))
            corners = self.bbox_embed[i](x + prev_x) + corners
            n, q, _ = corners.shape
            dist = F.softmax(corners.reshape(n, q, 4, self.bins + 1), dim=-1) @ project
            boxes = distances_to_box(coarse, dist, self.reg_scale)
            ref = boxes
            prev_x = x
            layer_boxes.append(boxes)
        logits = self.lqe_layers[self.last](self.class_embed[self.last](x), corners)
        if course is not None:
            course["coarse_boxes"] = coarse
            course["layer_boxes"] = torch.stack(layer_boxes, dim=1)
        return logits, boxes
