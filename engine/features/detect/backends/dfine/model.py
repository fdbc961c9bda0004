"""D-FINE (Peng et al., ICLR 2025) in plain PyTorch, state-dict compatible with the
transformers-layout ``model.safetensors`` released on the model hub (``DFineForObjectDetection``
as transformers writes it: legacy names ``fc1``/``out_proj``, ``model.encoder.encoder.*``).

``DFine(spec)(pixel_values)`` -> ``(logits, boxes)``:
    pixel_values (N, 3, H, W) float RGB in [0, 1] (no mean/std), H and W multiples of 32;
    logits (N, Q, num_labels) raw class logits (sigmoid gives scores; no background class);
    boxes (N, Q, 4) cx, cy, w, h normalised to [0, 1] of the input.

Pipeline: HGNetV2 -> 1x1 projections -> hybrid encoder -> flatten all levels into one token
sequence -> score every token (``enc_score_head``) and propose a box around its grid cell
(``enc_bbox_head`` + an anchor) -> keep the top-Q tokens by best class logit: they are the
queries, one per object (set prediction, no NMS) -> decoder (FDR) -> last layer's output.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.core.errors import BadFormat
from engine.features.detect.backends.detr.rtdetr import MLP  # RT-DETR's: the same layers.i.* keys
from engine.features.detect.backends.dfine.config import DFineSpec
from engine.features.detect.backends.dfine.decoder import Decoder
from engine.features.detect.backends.dfine.encoder import HybridEncoder
from engine.features.detect.backends.dfine.hgnet import Backbone


def anchors_for(shapes: list[tuple[int, int]], like: Tensor, cell: float = 0.05) -> tuple[Tensor, Tensor]:
    """Inverse-sigmoid anchor boxes for every token, (1, S, 4), and a (1, S, 1) mask of
    those well inside the image. Level l's anchor is its cell's centre, size cell * 2**l;
    anchors touching the border (a coordinate outside (0.01, 0.99)) are masked out and
    set to the dtype's largest value, as the reference does."""
    per_level = []
    for level, (h, w) in enumerate(shapes):
        # float32 whatever the model runs in (bfloat16 centres near an edge are a tenth of
        # a cell off, which the inverse sigmoid below magnifies)
        ys = (torch.arange(h, device=like.device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=like.device, dtype=torch.float32) + 0.5) / w
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        wh = torch.full_like(gx, cell * 2.0 ** level)
        per_level.append(torch.stack([gx, gy, wh, wh], dim=-1).reshape(-1, 4))
    anchors = torch.cat(per_level)[None]
    valid = ((anchors > 0.01) & (anchors < 0.99)).all(-1, keepdim=True)
    logits = torch.log(anchors / (1 - anchors)).to(like.dtype)
    big = torch.full_like(logits, torch.finfo(like.dtype).max)
    return torch.where(valid, logits, big), valid


class _Core(nn.Module):
    """The ``model.*`` level of the keys."""

    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        c, d = s.encoder_hidden_dim, s.d_model
        self.spec = s
        self.backbone = Backbone(s.backbone, frozen=s.freeze_backbone_bn)
        self.encoder_input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c)) for cin in s.backbone.out_channels)
        self.encoder = HybridEncoder(s)
        if s.num_denoising > 0:  # training-only; kept so that the keys match
            self.denoising_class_embed = nn.Embedding(s.num_labels + 1, d, padding_idx=s.num_labels)
        if s.learn_initial_query:
            self.weight_embedding = nn.Embedding(s.num_queries, d)
        self.enc_output = nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d, eps=s.layer_norm_eps))
        self.enc_score_head = nn.Linear(d, s.num_labels)
        self.enc_bbox_head = MLP(d, d, 4, 3)
        self.decoder = Decoder(s)
        cin = s.decoder_in_channels[-1]
        same = d == cin

        def proj(k: int, stride: int) -> nn.Module:
            if same:
                return nn.Identity()
            return nn.Sequential(nn.Conv2d(cin, d, k, stride, (k - 1) // 2, bias=False),
                                 nn.BatchNorm2d(d, eps=s.batch_norm_eps))
        levels = len(s.decoder_in_channels)
        self.decoder_input_proj = nn.ModuleList([proj(1, 1) for _ in range(levels)]
                                                + [proj(3, 2) for _ in range(s.num_levels - levels)])


class DFine(nn.Module):
    """Whole detector; ``forward(pixel_values) -> (logits, boxes)`` (module docstring).

    With ``course=True`` the forward also returns what the course shows (the
    ``SetDetector`` contract): ``layer_boxes`` (N, L + 1, Q, 4) cxcywh in [0, 1], each
    query's encoder proposal (index 0) then its box after each of the L decoder layers
    that run (the last equals ``boxes``), and ``proposal_logits`` (N, Q), the best encoder
    class logit of each selected token (the top-Q selection ranks all tokens by it)."""

    def __init__(self, spec: DFineSpec, course: bool = False) -> None:
        super().__init__()
        self.model = _Core(spec)
        self.course = course

    @property
    def spec(self) -> DFineSpec:
        return self.model.spec

    def forward(self, pixel_values: Tensor) -> tuple[Tensor, ...]:
        if not self.course:
            return self._run(pixel_values, None)
        course: dict[str, Tensor] = {}
        logits, boxes = self._run(pixel_values, course)
        layers = torch.cat([course["proposal_boxes"][:, None], course["layer_boxes"]], dim=1)
        return logits, boxes, layers, course["proposal_logits"]

    def _run(self, x: Tensor, course: dict | None) -> tuple[Tensor, Tensor]:
        """The network; fills ``course`` (when given) with proposal and per-layer data."""
        m = self.model
        s = m.spec
        if x.dim() != 4 or x.shape[1] != 3:
            raise BadFormat(f"D-FINE input of shape {tuple(x.shape)}", "expected (N, 3, H, W) RGB in [0, 1]")
        feats = m.backbone(x)
        feats = [proj(f) for proj, f in zip(m.encoder_input_proj, feats, strict=True)]
        enc = m.encoder(feats)
        sources = [proj(f) for proj, f in zip(m.decoder_input_proj, enc, strict=False)]
        # extra coarser levels all read the last encoder map (as the reference does)
        sources += [m.decoder_input_proj[i](enc[-1]) for i in range(len(enc), s.num_levels)]
        shapes = [(int(f.shape[2]), int(f.shape[3])) for f in sources]
        memory = torch.cat([f.flatten(2).transpose(1, 2) for f in sources], dim=1)     # (N, S, C)

        anchors, valid = anchors_for(shapes, memory)
        tokens = m.enc_output(memory * valid.to(memory.dtype))
        token_logits = m.enc_score_head(tokens)                                        # (N, S, C)
        token_boxes = m.enc_bbox_head(tokens) + anchors                                # (N, S, 4) logits
        best = token_logits.max(-1).values
        index = best.topk(s.num_queries, dim=1).indices                                # (N, Q)
        ref = token_boxes.gather(1, index[..., None].expand(-1, -1, 4))
        if s.learn_initial_query:
            queries = m.weight_embedding.weight[None].expand(x.shape[0], -1, -1)
        else:
            queries = tokens.gather(1, index[..., None].expand(-1, -1, tokens.shape[-1]))
        logits, boxes = m.decoder(queries, ref, memory, shapes, course)
        if course is not None:
            course["proposal_boxes"] = torch.sigmoid(ref)
            course["proposal_logits"] = best.gather(1, index)
        return logits, boxes
