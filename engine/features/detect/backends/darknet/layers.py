"""Torch modules for the Darknet layer types we run.

All tensors are NCHW (or channels_last memory format, which these modules accept
unchanged). Semantics follow Darknet, which OpenCV's importer reproduces:

- [convolutional] "same" padding is ``size // 2`` when ``pad=1``; batch norm uses
  Darknet's epsilon (1e-5) and is folded into the convolution after loading.
- [maxpool] pads ``padding`` pixels in total (default ``size - 1``): ``padding // 2`` on
  the left/top and the rest on the right/bottom, so the output size is
  ``(w + padding - size) // stride + 1``. Padded cells never win the max.
- [route] concatenates along channels; with ``groups=g, group_id=i`` each input
  contributes only its i-th channel slice of g.
- [shortcut] adds the outputs of the ``from`` layers to the previous layer's output
  (channel counts may differ: the overlap is added, the previous layer's count is kept).
- [upsample] is nearest-neighbour by an integer factor, times ``scale``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DARKNET_BN_EPS = 1e-5


def make_activation(name: str) -> nn.Module:
    """Darknet activation name -> module (leaky uses Darknet's slope 0.1)."""
    name = name.lower()
    if name == "leaky":
        return nn.LeakyReLU(0.1, inplace=True)
    if name == "mish":
        return nn.Mish(inplace=True)
    if name == "swish":
        return nn.SiLU(inplace=True)
    if name == "logistic":
        return nn.Sigmoid()
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "linear":
        return nn.Identity()
    raise ValueError(f"unsupported activation {name!r}")


class ConvBlock(nn.Module):
    """[convolutional]: conv (+ batch norm) + activation.

    Parameter order in a .weights file (see ``darknet_tensors``): biases (or BN beta),
    then BN scales, rolling mean, rolling variance when ``batch_normalize=1``, then the
    kernel (filters, in_channels / groups, size, size), all float32.
    """

    def __init__(self, in_channels: int, filters: int, size: int, stride: int, padding: int,
                 groups: int, batch_normalize: bool, activation: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, filters, size, stride, padding, groups=groups,
                              bias=not batch_normalize)
        self.bn: nn.Module = nn.BatchNorm2d(filters, eps=DARKNET_BN_EPS) if batch_normalize else nn.Identity()
        self.act = make_activation(activation)
        self.activation = activation
        self.batch_normalize = batch_normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def darknet_tensors(self) -> list[torch.Tensor]:
        """The tensors a .weights file fills, in file order."""
        if isinstance(self.bn, nn.BatchNorm2d):
            bn = self.bn
            return [bn.bias, bn.weight, bn.running_mean, bn.running_var, self.conv.weight]
        if self.batch_normalize:
            raise RuntimeError("batch norm was already folded into this convolution; load weights before fusing")
        return [self.conv.bias, self.conv.weight]

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold batch norm into the convolution: w' = w * g / s, b' = beta - mean * g / s."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn = self.bn
        factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv = self.conv
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, groups=conv.groups, bias=True)
        fused.weight.copy_(conv.weight * factor.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * factor)
        self.conv = fused.to(device=conv.weight.device, dtype=conv.weight.dtype)
        self.bn = nn.Identity()


class MaxPool(nn.Module):
    """[maxpool] with Darknet's asymmetric padding (see the module docstring)."""

    def __init__(self, size: int, stride: int, padding: int) -> None:
        super().__init__()
        self.size, self.stride, self.padding = size, stride, padding
        self.pad_before = padding // 2
        self.pad_after = padding - padding // 2

    def output_size(self, n: int) -> int:
        return (n + self.padding - self.size) // self.stride + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_before == self.pad_after and self.pad_before <= self.size // 2:
            # Symmetric padding (SPP's size 5/9/13, stride 1): torch pads with -inf itself.
            return F.max_pool2d(x, self.size, self.stride, self.pad_before)
        h, w = x.shape[-2:]
        # Only pad what a window can reach; e.g. size=2/stride=2 on an even width needs none.
        need_w = (self.output_size(w) - 1) * self.stride + self.size - w - self.pad_before
        need_h = (self.output_size(h) - 1) * self.stride + self.size - h - self.pad_before
        pads = (self.pad_before, max(need_w, 0), self.pad_before, max(need_h, 0))
        if any(pads):
            x = F.pad(x, pads, value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)


class Route(nn.Module):
    """[route]: concatenate (slices of) earlier outputs along channels."""

    def __init__(self, sources: list[int], groups: int = 1, group_id: int = 0) -> None:
        super().__init__()
        self.sources, self.groups, self.group_id = sources, groups, group_id

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.groups > 1:
            inputs = [t.chunk(self.groups, dim=1)[self.group_id] for t in inputs]
        return inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)


class Shortcut(nn.Module):
    """[shortcut]: previous output + outputs of the ``from`` layers, then activation."""

    def __init__(self, sources: list[int], activation: str) -> None:
        super().__init__()
        self.sources = sources
        self.act = make_activation(activation)

    def forward(self, previous: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
        out = previous
        for other in others:
            if other.shape[1] == out.shape[1]:
                out = out + other
            else:
                n = min(other.shape[1], out.shape[1])
                out = out.clone()
                out[:, :n] += other[:, :n]
        return self.act(out)


class Upsample(nn.Module):
    """[upsample]: nearest-neighbour by ``stride`` (a positive integer), times ``scale``."""

    def __init__(self, stride: int, scale: float = 1.0) -> None:
        super().__init__()
        self.stride, self.scale = stride, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=self.stride, mode="nearest")
        return out * self.scale if self.scale != 1.0 else out


class YoloOutput(nn.Module):
    """[yolo]: marks a detection head. The tensor passes through unchanged; decoding is
    done by ``engine.features.detect.backends.darknet.decode`` from the head's ``YoloHeadSpec``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
