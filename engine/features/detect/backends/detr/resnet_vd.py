"""RT-DETR's ResNet-vd backbone ("rt_detr_resnet" in transformers), written for this app.

ResNet-vd (He et al., "Bag of Tricks", 2019) differs from the classic ResNet in two
places: the 7x7 stem is three 3x3 convolutions, and a downsampling shortcut averages
2x2 pixels before its 1x1 convolution instead of skipping three pixels in four. Module
and parameter names follow transformers' layout (``embedder.embedder.N.convolution``,
``encoder.stages.S.layers.L.layer.N`` / ``.shortcut``), so its state-dict keys load
as they are; batch norms are frozen (their statistics and affine terms are buffers,
as in transformers' ``RTDetrFrozenBatchNorm2d``, so no ``num_batches_tracked``).

Input (N, 3, H, W) float RGB in 0..1; outputs the feature maps named by
``out_indices`` (0 = stem, stride 4; k = stage k, stride 4 * 2**(k-1) from stage 2 on).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "swish": nn.SiLU}


def activation(name: str | None) -> nn.Module:
    """The activation module for a transformers activation name (None: identity)."""
    return nn.Identity() if name is None else ACTIVATIONS[name]()


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics: y = (x - mean) / sqrt(var + eps) * weight + bias."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class ConvLayer(nn.Module):
    """Conv (no bias, "same" padding for odd kernels) -> frozen BN -> activation."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, act: str | None = "relu") -> None:
        super().__init__()
        self.convolution = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)
        self.normalization = FrozenBatchNorm2d(cout)
        self.activation = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.normalization(self.convolution(x)))


class ShortCut(nn.Module):
    """1x1 projection of the residual (conv + frozen BN), optionally strided."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.convolution = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.normalization = FrozenBatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalization(self.convolution(x))


def _pooled_shortcut(cin: int, cout: int, project: bool) -> nn.Sequential:
    # vd: average 2x2 pixels (ceil mode keeps odd sides), then project without a stride.
    return nn.Sequential(nn.AvgPool2d(2, 2, 0, ceil_mode=True), ShortCut(cin, cout, 1) if project else nn.Identity())


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus the residual (ResNet-18/34)."""

    def __init__(self, cin: int, cout: int, stride: int, first: bool, act: str) -> None:
        super().__init__()
        if not first:
            self.shortcut: nn.Module = nn.Identity()
        elif cin != cout:
            self.shortcut = _pooled_shortcut(cin, cout, True)
        else:
            self.shortcut = ShortCut(cin, cout, stride)
        self.layer = nn.Sequential(ConvLayer(cin, cout, 3, stride), ConvLayer(cout, cout, 3, 1, None))
        self.activation = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.layer(x) + self.shortcut(x))


class BottleneckBlock(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) plus the residual (ResNet-50 and up)."""

    def __init__(self, cin: int, cout: int, stride: int, act: str, downsample_in_bottleneck: bool) -> None:
        super().__init__()
        project = cin != cout or stride != 1
        if stride == 2:
            self.shortcut: nn.Module = _pooled_shortcut(cin, cout, project)
        else:
            self.shortcut = ShortCut(cin, cout, stride) if project else nn.Identity()
        mid = cout // 4
        self.layer = nn.Sequential(
            ConvLayer(cin, mid, 1, stride if downsample_in_bottleneck else 1),
            ConvLayer(mid, mid, 3, 1 if downsample_in_bottleneck else stride),
            ConvLayer(mid, cout, 1, 1, None))
        self.activation = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.layer(x) + self.shortcut(x))


@dataclass(frozen=True)
class ResNetSpec:
    """The backbone's shape, as transformers' RTDetrResNetConfig states it."""

    embedding_size: int = 64
    hidden_sizes: tuple[int, ...] = (256, 512, 1024, 2048)
    depths: tuple[int, ...] = (3, 4, 6, 3)
    layer_type: str = "bottleneck"
    hidden_act: str = "relu"
    downsample_in_first_stage: bool = False
    downsample_in_bottleneck: bool = False
    out_indices: tuple[int, ...] = (2, 3, 4)
    num_channels: int = 3

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of each output feature map."""
        sizes = (self.embedding_size, *self.hidden_sizes)
        return tuple(sizes[i] for i in self.out_indices)


class _Stage(nn.Module):
    def __init__(self, spec: ResNetSpec, cin: int, cout: int, stride: int, depth: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(depth):
            c_in, s = (cin, stride) if i == 0 else (cout, 1)
            if spec.layer_type == "bottleneck":
                blocks.append(BottleneckBlock(c_in, cout, s, spec.hidden_act, spec.downsample_in_bottleneck))
            else:
                blocks.append(BasicBlock(c_in, cout, s, i == 0, spec.hidden_act))
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _Embedder(nn.Module):
    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        half = spec.embedding_size // 2
        self.embedder = nn.Sequential(ConvLayer(spec.num_channels, half, 3, 2, spec.hidden_act),
                                      ConvLayer(half, half, 3, 1, spec.hidden_act),
                                      ConvLayer(half, spec.embedding_size, 3, 1, spec.hidden_act))
        self.pooler = nn.MaxPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pooler(self.embedder(x))


class _Stages(nn.Module):
    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        ins = (spec.embedding_size, *spec.hidden_sizes[:-1])
        strides = (2 if spec.downsample_in_first_stage else 1,) + (2,) * (len(spec.hidden_sizes) - 1)
        self.stages = nn.ModuleList(_Stage(spec, cin, cout, s, d)
                                    for cin, cout, s, d in zip(ins, spec.hidden_sizes, strides, spec.depths))


class ResNetVd(nn.Module):
    """The backbone: (N, 3, H, W) -> the feature maps of ``spec.out_indices``."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embedder = _Embedder(spec)
        self.encoder = _Stages(spec)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.embedder(x)
        maps = [x]
        for stage in self.encoder.stages:
            x = stage(x)
            maps.append(x)
        return [maps[i] for i in self.spec.out_indices]
