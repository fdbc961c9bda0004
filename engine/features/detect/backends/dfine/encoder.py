"""D-FINE's hybrid encoder: self-attention over the coarsest map (AIFI), then a top-down
(FPN) and a bottom-up (PAN) fusion built from RepNCSPELAN4 blocks (GELAN-style: split,
two CSP/RepVGG branches, concatenate, 1x1 fuse) and SCDown (1x1 then depthwise stride-2).

Input: projected backbone maps, each (N, C_hidden, H_l, W_l), finest first. Output: the
same number of maps, same shapes, finest first.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.features.detect.backends.dfine.config import DFineSpec
from engine.features.detect.backends.dfine.layers import ConvNorm, SelfAttention, activation


def sine_position_embedding(height: int, width: int, dim: int, temperature: float,
                            like: Tensor) -> Tensor:
    """(1, H*W, dim) 2-D sine embedding, row-major positions, channels laid out as
    [sin(y w), cos(y w), sin(x w), cos(x w)] with w_k = temperature ** (-k / (dim / 4)).

    Built from ``like``'s device and dtype with tensor ops only (traceable)."""
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, device=like.device, dtype=torch.float32) / quarter)
    ys = torch.arange(height, device=like.device, dtype=torch.float32)
    xs = torch.arange(width, device=like.device, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    ey = gy.reshape(-1, 1) * omega[None]
    ex = gx.reshape(-1, 1) * omega[None]
    return torch.cat([ey.sin(), ey.cos(), ex.sin(), ex.cos()], dim=1)[None].to(like.dtype)


class EncoderLayer(nn.Module):
    """Post-norm (or pre-norm) transformer layer; keys ``self_attn.* self_attn_layer_norm
    fc1 fc2 final_layer_norm``. (N, L, C) -> (N, L, C)."""

    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        dim = s.encoder_hidden_dim
        self.pre_norm = s.normalize_before
        self.self_attn = SelfAttention(dim, s.encoder_heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=s.layer_norm_eps)
        self.fc1 = nn.Linear(dim, s.encoder_ffn_dim)
        self.fc2 = nn.Linear(s.encoder_ffn_dim, dim)
        self.act = activation(s.encoder_act)
        self.final_layer_norm = nn.LayerNorm(dim, eps=s.layer_norm_eps)

    def forward(self, x: Tensor, pos: Tensor | None) -> Tensor:
        if self.pre_norm:
            x = x + self.self_attn(self.self_attn_layer_norm(x), pos)
            # transformers takes the feed-forward's residual after the norm here
            h = self.final_layer_norm(x)
            return h + self.fc2(self.act(self.fc1(h)))
        x = self.self_attn_layer_norm(x + self.self_attn(x, pos))
        return self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))


class AIFI(nn.Module):
    """Transformer layers over one flattened map; keys ``layers.i.*``. (N, C, H, W) -> same."""

    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        self.dim = s.encoder_hidden_dim
        self.temperature = s.pe_temperature
        # transformers drops the position embedding at inference when eval_size is set
        # (it meant a precomputed one); we follow it so that outputs agree.
        self.use_pos = s.eval_size is None
        self.layers = nn.ModuleList(EncoderLayer(s) for _ in range(s.encoder_layers))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        pos = sine_position_embedding(h, w, self.dim, self.temperature, tokens) if self.use_pos else None
        for layer in self.layers:
            tokens = layer(tokens, pos)
        return tokens.transpose(1, 2).reshape(n, c, h, w)


class RepVGG(nn.Module):
    """3x3 conv-BN plus 1x1 conv-BN, summed, then the activation."""

    def __init__(self, c: int, act: str, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvNorm(c, c, 3, eps=eps, padding=1)
        self.conv2 = ConvNorm(c, c, 1, eps=eps, padding=0)
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv1(x) + self.conv2(x))


class CSPRep(nn.Module):
    """Two 1x1 branches, RepVGG blocks on the first, summed (out == hidden: no conv3)."""

    def __init__(self, cin: int, cout: int, blocks: int, act: str, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvNorm(cin, cout, 1, act=act, eps=eps)
        self.conv2 = ConvNorm(cin, cout, 1, act=act, eps=eps)
        self.bottlenecks = nn.ModuleList(RepVGG(cout, act, eps) for _ in range(blocks))

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv1(x)
        for block in self.bottlenecks:
            y = block(y)
        return y + self.conv2(x)


class RepNCSPELAN4(nn.Module):
    """(N, 2C, H, W) -> (N, C, H, W): 1x1 to 2C, split in halves a|b, b -> CSP -> 3x3 = c,
    c -> CSP -> 3x3 = d, concat [a, b, c, d], 1x1 to C. Its own convs use SiLU (fixed by
    the reference), the CSP/RepVGG parts the config's activation."""

    def __init__(self, s: DFineSpec, blocks: int) -> None:
        super().__init__()
        c = s.encoder_hidden_dim
        mid = round(s.hidden_expansion * c // 2)
        eps = s.batch_norm_eps
        self.half = c
        self.conv1 = ConvNorm(2 * c, 2 * c, 1, act="silu", eps=eps)
        self.csp_rep1 = CSPRep(c, mid, blocks, s.act, eps)
        self.conv2 = ConvNorm(mid, mid, 3, act="silu", eps=eps)
        self.csp_rep2 = CSPRep(mid, mid, blocks, s.act, eps)
        self.conv3 = ConvNorm(mid, mid, 3, act="silu", eps=eps)
        self.conv4 = ConvNorm(2 * c + 2 * mid, c, 1, act="silu", eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.conv1(x).split((self.half, self.half), dim=1)
        c = self.conv2(self.csp_rep1(b))
        d = self.conv3(self.csp_rep2(c))
        return self.conv4(torch.cat([a, b, c, d], dim=1))


class SCDown(nn.Module):
    def __init__(self, c: int, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvNorm(c, c, 1, eps=eps)
        self.conv2 = ConvNorm(c, c, 3, 2, groups=c, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


class HybridEncoder(nn.Module):
    """Keys ``encoder.i.layers.j.*`` (AIFI), ``lateral_convs``, ``fpn_blocks``,
    ``downsample_convs``, ``pan_blocks``."""

    def __init__(self, s: DFineSpec) -> None:
        super().__init__()
        c, eps = s.encoder_hidden_dim, s.batch_norm_eps
        levels = len(s.encoder_in_channels)
        blocks = round(3 * s.depth_mult)
        self.attn_levels = tuple(s.encode_proj_layers) if s.encoder_layers > 0 else ()
        self.encoder = nn.ModuleList(AIFI(s) for _ in s.encode_proj_layers)
        self.lateral_convs = nn.ModuleList(ConvNorm(c, c, 1, eps=eps) for _ in range(levels - 1))
        self.fpn_blocks = nn.ModuleList(RepNCSPELAN4(s, blocks) for _ in range(levels - 1))
        self.downsample_convs = nn.ModuleList(SCDown(c, eps) for _ in range(levels - 1))
        self.pan_blocks = nn.ModuleList(RepNCSPELAN4(s, blocks) for _ in range(levels - 1))

    def forward(self, maps: list[Tensor]) -> list[Tensor]:
        maps = list(maps)
        for aifi, level in zip(self.encoder, self.attn_levels, strict=False):
            maps[level] = aifi(maps[level])
        # top-down: coarsest first; each step narrows the running map (lateral conv, which
        # also replaces it in the output list), doubles its size and fuses the finer map.
        top_down = [maps[-1]]
        for k, (lateral, block) in enumerate(zip(self.lateral_convs, self.fpn_blocks, strict=True)):
            top = lateral(top_down[-1])
            top_down[-1] = top
            up = F.interpolate(top, scale_factor=2.0, mode="nearest")
            top_down.append(block(torch.cat([up, maps[len(maps) - 2 - k]], dim=1)))
        top_down.reverse()
        # bottom-up: finest first
        outs = [top_down[0]]
        for k, (down, block) in enumerate(zip(self.downsample_convs, self.pan_blocks, strict=True)):
            outs.append(block(torch.cat([down(outs[-1]), top_down[k + 1]], dim=1)))
        return outs
