"""RT-DETR and RT-DETRv2 (Zhao et al. 2023, Lv et al. 2024) in plain PyTorch, written for
this app, with the state-dict keys of transformers' ``RTDetrForObjectDetection`` /
``RTDetrV2ForObjectDetection`` as saved by ``save_pretrained`` (so model.safetensors
files from the model hub load as they are).

The network, for an input (N, 3, H, W) RGB in 0..1:
1. backbone (``resnet_vd.ResNetVd``): feature maps at strides 8, 16, 32;
2. hybrid encoder: each map projected to ``encoder_hidden_dim`` (1x1 conv + BN); AIFI,
   a transformer encoder layer with 2-D sine positions, on the coarsest map only; then
   CCFM: a top-down (FPN) and a bottom-up (PAN) path of CSP blocks of RepVGG units;
3. query selection: every encoder token (all levels, flattened) gets class logits and a
   box relative to its anchor (a cell-centred square of 0.05 * 2**level); the
   ``num_queries`` tokens with the best class logit become the decoder's queries and
   their boxes its starting reference boxes;
4. decoder: per layer, self-attention among the queries, multi-scale deformable
   cross-attention (each head samples ``n_points`` points per level around the
   reference box, bilinear through ``grid_sample``, weighted by a softmax), an MLP; a
   box head refines the reference box in logit space (iterative refinement).
Outputs (the ``SetDetector`` contract): logits (N, Q, C) of the last layer, boxes
(N, Q, 4) cxcywh in 0..1, the boxes of every stage (N, L + 1, Q, 4) (index 0: the
proposals) and the proposals' best encoder logit (N, Q).

Not implemented (refused by ``spec_from_config`` with a message): RT-DETRv2's
"discrete" sampling, learned position embeddings, non-ResNet backbones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.features.detect.backends.detr.resnet_vd import ResNetVd, activation
from engine.features.detect.backends.detr.spec import RTDetrSpec


class MLP(nn.Module):
    """Linear layers with ReLU between them (``layers.0`` ... ``layers.{n-1}``)."""

    def __init__(self, cin: int, hidden: int, cout: int, num_layers: int) -> None:
        super().__init__()
        dims = [cin] + [hidden] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:] + [cout]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        return x


class ConvNorm(nn.Module):
    """Conv (no bias) -> BatchNorm -> activation; ``conv`` / ``norm`` keys."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, act: str | None, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, bias=False)
        self.norm = nn.BatchNorm2d(cout, eps)
        self.activation = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(x)))


class RepVgg(nn.Module):
    """3x3 and 1x1 branches summed, then the activation (RepVGG, unfused)."""

    def __init__(self, channels: int, act: str, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvNorm(channels, channels, 3, 1, None, eps)
        self.conv2 = ConvNorm(channels, channels, 1, 1, None, eps)
        self.activation = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.conv1(x) + self.conv2(x))


class CSPRep(nn.Module):
    """Cross-stage partial block: (RepVGG x3 on one 1x1 branch) + another 1x1 branch."""

    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        dim, eps, act = spec.encoder_hidden_dim, spec.batch_norm_eps, spec.activation_function
        hidden = int(dim * spec.hidden_expansion)
        self.conv1 = ConvNorm(2 * dim, hidden, 1, 1, act, eps)
        self.conv2 = ConvNorm(2 * dim, hidden, 1, 1, act, eps)
        self.bottlenecks = nn.Sequential(*[RepVgg(hidden, act, eps) for _ in range(3)])
        self.conv3 = ConvNorm(hidden, dim, 1, 1, act, eps) if hidden != dim else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.bottlenecks(self.conv1(x)) + self.conv2(x))


class SelfAttention(nn.Module):
    """Multi-head attention; positions are added to queries and keys, not values."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        qk = x if pos is None else x + pos

        def split(t: torch.Tensor) -> torch.Tensor:  # (N, T, D) -> (N, heads, T, D / heads)
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q_proj(qk)), split(self.k_proj(qk)), split(self.v_proj(x)))
        return self.out_proj(out.transpose(1, 2).flatten(2))


class EncoderLayer(nn.Module):
    """AIFI's transformer layer (post-norm unless ``normalize_before``)."""

    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        dim = spec.encoder_hidden_dim
        self.pre_norm = spec.normalize_before
        self.self_attn = SelfAttention(dim, spec.encoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=spec.layer_norm_eps)
        self.fc1 = nn.Linear(dim, spec.encoder_ffn_dim)
        self.fc2 = nn.Linear(spec.encoder_ffn_dim, dim)
        self.act = activation(spec.encoder_activation_function)
        self.final_layer_norm = nn.LayerNorm(dim, eps=spec.layer_norm_eps)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.self_attn(self.self_attn_layer_norm(x), pos)
            return x + self.fc2(self.act(self.fc1(self.final_layer_norm(x))))
        x = self.self_attn_layer_norm(x + self.self_attn(x, pos))
        return self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))


def sine_positions(height: int, width: int, dim: int, temperature: float, like: torch.Tensor) -> torch.Tensor:
    """(1, H * W, dim) 2-D sine positions, row-major, laid out [sin y | cos y | sin x | cos x]
    with frequencies temperature ** -(k / (dim / 4)); computed in float64 as the reference."""
    quarter = dim // 4
    freq = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float64, device=like.device) / quarter)
    ys = torch.arange(height, dtype=torch.float64, device=like.device).repeat_interleave(width)
    xs = torch.arange(width, dtype=torch.float64, device=like.device).repeat(height)
    ey, ex = ys[:, None] * freq, xs[:, None] * freq
    return torch.cat([ey.sin(), ey.cos(), ex.sin(), ex.cos()], dim=1).to(like.dtype)[None]


class AIFI(nn.Module):
    """Attention-based intra-scale feature interaction: encoder layers over one map's cells."""

    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        self.dim, self.temperature = spec.encoder_hidden_dim, spec.positional_encoding_temperature
        # transformers adds no positions in eval mode when the config fixes eval_size.
        self.use_positions = spec.eval_size is None
        self.layers = nn.ModuleList(EncoderLayer(spec) for _ in range(spec.encoder_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        tokens = x.flatten(2).transpose(1, 2)
        pos = sine_positions(height, width, self.dim, self.temperature, tokens) if self.use_positions else None
        for layer in self.layers:
            tokens = layer(tokens, pos)
        return tokens.transpose(1, 2).unflatten(2, (height, width))


class HybridEncoder(nn.Module):
    """AIFI on the chosen levels, then CCFM's top-down and bottom-up fusion."""

    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        dim, eps, act = spec.encoder_hidden_dim, spec.batch_norm_eps, spec.activation_function
        levels = len(spec.encoder_in_channels)
        self.proj_layers = spec.encode_proj_layers
        self.encoder = nn.ModuleList(AIFI(spec) for _ in spec.encode_proj_layers)
        self.lateral_convs = nn.ModuleList(ConvNorm(dim, dim, 1, 1, act, eps) for _ in range(levels - 1))
        self.fpn_blocks = nn.ModuleList(CSPRep(spec) for _ in range(levels - 1))
        self.downsample_convs = nn.ModuleList(ConvNorm(dim, dim, 3, 2, act, eps) for _ in range(levels - 1))
        self.pan_blocks = nn.ModuleList(CSPRep(spec) for _ in range(levels - 1))
        self.has_layers = spec.encoder_layers > 0

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        maps = list(maps)
        if self.has_layers:
            for aifi, level in zip(self.encoder, self.proj_layers):
                maps[level] = aifi(maps[level])
        # Top-down: from the coarsest map, upsample x2 and fuse with the next finer one.
        top = [maps[-1]]
        for i, (lateral, block) in enumerate(zip(self.lateral_convs, self.fpn_blocks)):
            top[-1] = lateral(top[-1])
            up = F.interpolate(top[-1], scale_factor=2.0, mode="nearest")
            top.append(block(torch.cat([up, maps[len(maps) - 2 - i]], dim=1)))
        top.reverse()
        # Bottom-up: from the finest, downsample x2 and fuse with the next coarser one.
        out = [top[0]]
        for i, (down, block) in enumerate(zip(self.downsample_convs, self.pan_blocks)):
            out.append(block(torch.cat([down(out[-1]), top[i + 1]], dim=1)))
        return out


class DeformableAttention(nn.Module):
    """Multi-scale deformable attention (Deformable DETR), in pure torch via grid_sample.

    Each of ``heads`` heads samples ``points`` points on each of ``levels`` maps, at the
    reference box's centre plus offsets scaled by the box size (offset * w / points *
    offset_scale), and averages them with softmax weights predicted from the query.
    """

    def __init__(self, dim: int, heads: int, levels: int, points: int, offset_scale: float, v2: bool) -> None:
        super().__init__()
        self.heads, self.levels, self.points, self.offset_scale = heads, levels, points, offset_scale
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        if v2:  # a stored buffer in RT-DETRv2's files: 1 / points for every sampling point
            self.register_buffer("n_points_scale", torch.full((levels * points,), 1.0 / points))

    def forward(self, query: torch.Tensor, memory: torch.Tensor, reference: torch.Tensor,
                shapes: list[tuple[int, int]]) -> torch.Tensor:
        """query (N, Q, D); memory (N, S, D), the levels' cells flattened; reference (N, Q, 4)
        cxcywh in 0..1; shapes: (h, w) per level. -> (N, Q, D)."""
        n, q = query.shape[:2]
        value = self.value_proj(memory).unflatten(-1, (self.heads, -1))              # N, S, H, d
        offsets = self.sampling_offsets(query).view(n, q, self.heads, self.levels * self.points, 2)
        weights = self.attention_weights(query).view(n, q, self.heads, self.levels * self.points).softmax(-1)
        scale = reference[:, :, None, None, 2:] * (self.offset_scale / self.points)
        locations = reference[:, :, None, None, :2] + offsets * scale               # N, Q, H, L*P, 2
        # grid_sample in float32 whatever the model runs in: bfloat16 coordinates are off by
        # tenths of a pixel, and PyTorch's CPU bfloat16 grid_sample can return NaN
        grids = (2 * locations.float() - 1).transpose(1, 2).flatten(0, 1)           # N*H, Q, L*P, 2
        sampled = []
        values = value.split([h * w for h, w in shapes], dim=1)
        for level, (h, w) in enumerate(shapes):
            v = values[level].permute(0, 2, 3, 1).flatten(0, 1).unflatten(-1, (h, w))  # N*H, d, h, w
            grid = grids[:, :, level * self.points:(level + 1) * self.points]
            sampled.append(F.grid_sample(v.float(), grid, mode="bilinear", padding_mode="zeros",
                                         align_corners=False).to(v.dtype))
        stacked = torch.cat(sampled, dim=-1)                                         # N*H, d, Q, L*P
        w = weights.transpose(1, 2).flatten(0, 1)[:, None]                          # N*H, 1, Q, L*P
        out = (stacked * w).sum(-1).unflatten(0, (n, self.heads)).flatten(1, 2)     # N, D, Q
        return self.output_proj(out.transpose(1, 2))


class DecoderLayer(nn.Module):
    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        dim, eps = spec.d_model, spec.layer_norm_eps
        self.self_attn = SelfAttention(dim, spec.decoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.encoder_attn = DeformableAttention(dim, spec.decoder_attention_heads, spec.decoder_levels,
                                                spec.decoder_n_points, spec.decoder_offset_scale, spec.v2)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, spec.decoder_ffn_dim)
        self.fc2 = nn.Linear(spec.decoder_ffn_dim, dim)
        self.act = activation(spec.decoder_activation_function)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, memory: torch.Tensor, reference: torch.Tensor,
                shapes: list[tuple[int, int]]) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.self_attn(x, pos))
        x = self.encoder_attn_layer_norm(x + self.encoder_attn(x + pos, memory, reference, shapes))
        return self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class Decoder(nn.Module):
    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        dim = spec.d_model
        self.layers = nn.ModuleList(DecoderLayer(spec) for _ in range(spec.decoder_layers))
        self.query_pos_head = MLP(4, 2 * dim, dim, 2)
        self.class_embed = nn.ModuleList(nn.Linear(dim, spec.num_labels) for _ in range(spec.decoder_layers))
        self.bbox_embed = nn.ModuleList(MLP(dim, dim, 4, 3) for _ in range(spec.decoder_layers))

    def forward(self, target: torch.Tensor, reference_logits: torch.Tensor, memory: torch.Tensor,
                shapes: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (logits (N, Q, C) of the last layer, boxes (N, Q, 4), every stage's boxes (N, L + 1, Q, 4))."""
        reference = reference_logits.sigmoid()
        stages = [reference]
        x = target
        logits = target
        for i, layer in enumerate(self.layers):
            x = layer(x, self.query_pos_head(reference), memory, reference, shapes)
            reference = torch.sigmoid(self.bbox_embed[i](x) + inverse_sigmoid(reference))
            stages.append(reference)
            if i == len(self.layers) - 1:
                logits = self.class_embed[i](x)
        return logits, reference, torch.stack(stages, dim=1)


def _proj(cin: int, cout: int, eps: float, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout, eps))


class _Backbone(nn.Module):
    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        self.model = ResNetVd(spec.backbone)


class _Model(nn.Module):
    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        dim, eps = spec.d_model, spec.batch_norm_eps
        self.backbone = _Backbone(spec)
        self.encoder_input_proj = nn.ModuleList(_proj(c, spec.encoder_hidden_dim, 1e-5)
                                                for c in spec.backbone.channels)
        self.encoder = HybridEncoder(spec)
        if spec.num_denoising > 0:  # training only; kept so the files' keys match
            self.denoising_class_embed = nn.Embedding(spec.num_labels + 1, dim, padding_idx=spec.num_labels)
        if spec.learn_initial_query:
            self.weight_embedding = nn.Embedding(spec.num_queries, dim)
        self.enc_output = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim, eps=spec.layer_norm_eps))
        self.enc_score_head = nn.Linear(dim, spec.num_labels)
        self.enc_bbox_head = MLP(dim, dim, 4, 3)
        projs = [_proj(c, dim, eps) for c in spec.decoder_in_channels]
        cin = spec.decoder_in_channels[-1]
        for _ in range(spec.num_feature_levels - len(spec.decoder_in_channels)):
            projs.append(_proj(cin, dim, eps, 3, 2))
            cin = dim
        self.decoder_input_proj = nn.ModuleList(projs)
        self.decoder = Decoder(spec)


def anchors_for(shapes: list[tuple[int, int]], like: torch.Tensor, grid_size: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, S, 4) anchor logits (inverse sigmoid of cxcywh: cell centres, squares of
    grid_size * 2**level) and (1, S, 1) validity (all of cxcywh inside (0.01, 0.99)); an
    invalid anchor's logits are the dtype's largest value, as the reference sets them."""
    parts = []
    for level, (h, w) in enumerate(shapes):
        # float32 whatever the model runs in: in bfloat16 the centres near an edge round by
        # a tenth of a cell, and the inverse sigmoid magnifies that into the logits
        ys = (torch.arange(h, dtype=torch.float32, device=like.device) + 0.5) / h
        xs = (torch.arange(w, dtype=torch.float32, device=like.device) + 0.5) / w
        cy, cx = ys.repeat_interleave(w), xs.repeat(h)
        side = torch.full_like(cx, grid_size * 2.0 ** level)
        parts.append(torch.stack([cx, cy, side, side], dim=-1))
    anchors = torch.cat(parts)[None]
    valid = ((anchors > 0.01) & (anchors < 0.99)).all(-1, keepdim=True)
    logits = torch.log(anchors / (1 - anchors)).to(like.dtype)
    return torch.where(valid, logits, torch.full_like(logits, torch.finfo(like.dtype).max)), valid


class RTDetr(nn.Module):
    """RT-DETR / RT-DETRv2 for detection: pixel_values (N, 3, H, W) -> (logits, boxes,
    stage boxes, proposal logits); see the module docstring. H and W: multiples of 32."""

    def __init__(self, spec: RTDetrSpec) -> None:
        super().__init__()
        self.spec = spec
        self.model = _Model(spec)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        m, spec = self.model, self.spec
        feats = m.backbone.model(pixel_values)
        encoded = m.encoder([proj(f) for proj, f in zip(m.encoder_input_proj, feats)])
        sources = [proj(f) for proj, f in zip(m.decoder_input_proj, encoded)]
        for i in range(len(sources), spec.num_feature_levels):
            sources.append(m.decoder_input_proj[i](encoded[-1]))  # as the reference: each from the last map
        shapes = [(int(s.shape[2]), int(s.shape[3])) for s in sources]
        memory = torch.cat([s.flatten(2).transpose(1, 2) for s in sources], dim=1)    # N, S, D
        anchors, valid = anchors_for(shapes, memory)
        tokens = m.enc_output(memory * valid.to(memory.dtype))
        token_logits = m.enc_score_head(tokens)
        token_boxes = m.enc_bbox_head(tokens) + anchors
        best, chosen = token_logits.max(-1).values.topk(spec.num_queries, dim=1)     # query selection
        reference = token_boxes.gather(1, chosen[..., None].expand(-1, -1, 4))
        if spec.learn_initial_query:
            target = m.weight_embedding.weight[None].expand(memory.shape[0], -1, -1)
        else:
            target = tokens.gather(1, chosen[..., None].expand(-1, -1, tokens.shape[-1]))
        logits, boxes, stages = m.decoder(target, reference, memory, shapes)
        return logits, boxes, stages, best
