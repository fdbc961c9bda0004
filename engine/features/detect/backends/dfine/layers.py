"""Small building blocks of D-FINE, named so that their state-dict keys are those of the
released transformers-layout ``model.safetensors`` files.

All tensors are NCHW float feature maps or (N, L, C) token sequences.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def activation(name: str | None) -> nn.Module:
    """A fresh activation module for a config name (already checked by config.py)."""
    if name is None:
        return nn.Identity()
    return {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}[name]()


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics: ``y = (x - mean) / sqrt(var + 1e-5) * weight + bias``.

    The backbone of the released models uses it; its state dict has no
    ``num_batches_tracked`` (a loaded one is ignored)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * torch.rsqrt(self.running_var + 1e-5)
        shift = self.bias - self.running_mean * scale
        # one fused multiply-add pass over the map (the backbone's maps are the largest)
        return torch.addcmul(shift[None, :, None, None], x, scale[None, :, None, None])


def batch_norm(channels: int, eps: float, frozen: bool) -> nn.Module:
    return FrozenBatchNorm2d(channels) if frozen else nn.BatchNorm2d(channels, eps=eps)


class Affine(nn.Module):
    """HGNetV2's learnable affine block: one scalar scale and one scalar bias."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.bias, x, self.scale)


class ConvNorm(nn.Module):
    """Conv (no bias, 'same' padding for odd kernels) -> BatchNorm -> activation.

    Keys ``conv.*``/``norm.*`` (the encoder's style)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, *,
                 act: str | None = None, eps: float = 1e-5, padding: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if padding is None else padding,
                              groups=groups, bias=False)
        self.norm = nn.BatchNorm2d(cout, eps=eps)
        self.activation = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.norm(self.conv(x)))


class SelfAttention(nn.Module):
    """Multi-head self-attention where the position embedding is added to queries and keys,
    not values. Keys ``q_proj k_proj v_proj out_proj``. (N, L, C) -> (N, L, C)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        qk = x if pos is None else x + pos
        n, length, dim = x.shape
        shape = (n, length, self.heads, dim // self.heads)
        q = self.q_proj(qk).view(shape).transpose(1, 2)
        k = self.k_proj(qk).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(n, length, dim))
