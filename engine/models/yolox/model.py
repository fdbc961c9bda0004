"""YOLOX as published by Megvii: CSPDarknet backbone, PAFPN neck, decoupled anchor-free head.

Module and attribute names are chosen so that ``YoloxModel.state_dict()`` has exactly
the keys (and shapes) of the released ``.pth`` files' ``"model"`` entry, e.g.
``backbone.backbone.stem.conv.conv.weight`` or ``head.cls_preds.0.bias``; the released
weights load into it as they are.

Sizes (``ARCHITECTURES``): depth and width multipliers of the base network (64 stem
channels x width; 3 bottlenecks per CSP stage x depth), "nano" also uses depthwise
separable 3x3 convolutions outside the stem. Batch norm uses eps 1e-3, as Megvii's
experiment files set it (the released weights were trained and evaluated with it).

Input: float (N, 3, H, W), BGR, 0..255 (no normalisation), H and W multiples of 32.
Output (``forward``): the raw tensor (N, A, 5 + C) over the A = sum of (H/s)(W/s)
grid points of the strides 8, 16 and 32, level by level, row-major within a level:
tx, ty, tw, th (undecoded), objectness and C class probabilities (both after the
logistic) — Megvii's head with ``decode_in_inference=False``, as its ONNX export gives.
``forward(x, logits=True)`` gives the same rows with objectness and class scores before
the logistic (training: the losses take logits, which is numerically safer).
``grid.py`` gives each row's grid point; detect's ``decode.py`` turns rows into boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: Strides of the three output levels (input pixels per grid step).
STRIDES = (8, 16, 32)
#: Channels of the three levels for width 1.0 (scaled by the width multiplier).
LEVEL_CHANNELS = (256, 512, 1024)
BN_EPS = 1e-3


@dataclass(frozen=True)
class YoloxArch:
    """One published size: depth/width multipliers, depthwise 3x3 convolutions, and the
    input (width, height) its experiment file evaluates at."""

    name: str
    depth: float
    width: float
    depthwise: bool
    test_size: tuple[int, int]

    @property
    def stem_channels(self) -> int:
        return int(64 * self.width)

    @property
    def base_depth(self) -> int:
        return max(round(self.depth * 3), 1)


ARCHITECTURES: dict[str, YoloxArch] = {a.name: a for a in (
    YoloxArch("nano", 0.33, 0.25, True, (416, 416)),
    YoloxArch("tiny", 0.33, 0.375, False, (416, 416)),
    YoloxArch("s", 0.33, 0.50, False, (640, 640)),
    YoloxArch("m", 0.67, 0.75, False, (640, 640)),
    YoloxArch("l", 1.0, 1.0, False, (640, 640)),
    YoloxArch("x", 1.33, 1.25, False, (640, 640)),
)}


class BaseConv(nn.Module):
    """Conv (no bias) -> BatchNorm -> SiLU, "same" padding. ``fuse`` folds the batch norm
    into the convolution (a bias appears) for inference."""

    def __init__(self, cin: int, cout: int, ksize: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ksize, stride, padding=(ksize - 1) // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.03)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse(self) -> None:
        bn = self.bn
        if not isinstance(bn, nn.BatchNorm2d):
            return
        conv = self.conv
        factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # per output channel
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          groups=conv.groups, bias=True).to(conv.weight.device, conv.weight.dtype)
        fused.weight.copy_(conv.weight * factor.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * factor)
        self.conv, self.bn = fused, nn.Identity()


class DWConv(nn.Module):
    """Depthwise k x k BaseConv, then pointwise 1x1 BaseConv (YOLOX-nano's 3x3s)."""

    def __init__(self, cin: int, cout: int, ksize: int, stride: int = 1) -> None:
        super().__init__()
        self.dconv = BaseConv(cin, cin, ksize, stride, groups=cin)
        self.pconv = BaseConv(cin, cout, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


def _conv3(depthwise: bool):
    return DWConv if depthwise else BaseConv


class Bottleneck(nn.Module):
    """1x1 then 3x3, with a residual add when asked and the channels agree."""

    def __init__(self, cin: int, cout: int, shortcut: bool, depthwise: bool) -> None:
        super().__init__()
        self.conv1 = BaseConv(cin, cout, 1, 1)
        self.conv2 = _conv3(depthwise)(cout, cout, 3, 1)
        self.add = shortcut and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.add else y


class CSPLayer(nn.Module):
    """Cross-stage partial block: half the channels through n bottlenecks, half straight
    through a 1x1, concatenated and mixed by a last 1x1."""

    def __init__(self, cin: int, cout: int, n: int, shortcut: bool = True, depthwise: bool = False) -> None:
        super().__init__()
        hidden = int(cout * 0.5)
        self.conv1 = BaseConv(cin, hidden, 1, 1)
        self.conv2 = BaseConv(cin, hidden, 1, 1)
        self.conv3 = BaseConv(2 * hidden, cout, 1, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, depthwise) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat([self.m(self.conv1(x)), self.conv2(x)], dim=1))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: stride-1 max pools of 5, 9 and 13 beside the input."""

    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = cin // 2
        self.conv1 = BaseConv(cin, hidden, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernels)
        self.conv2 = BaseConv(hidden * (len(kernels) + 1), cout, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.m], dim=1))


class Focus(nn.Module):
    """Space to depth (each 2x2 block's pixels become 4x the channels, half the size),
    then a 3x3 BaseConv. The order of the four phases is the one the weights expect:
    (even row, even col), (odd row, even col), (even row, odd col), (odd row, odd col)."""

    def __init__(self, cin: int, cout: int, ksize: int = 3) -> None:
        super().__init__()
        self.conv = BaseConv(cin * 4, cout, ksize, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], dim=1))


class CSPDarknet(nn.Module):
    """The backbone: Focus stem, four stride-2 stages; returns the stride 8, 16, 32 maps."""

    def __init__(self, arch: YoloxArch) -> None:
        super().__init__()
        c, n = arch.stem_channels, arch.base_depth
        conv = _conv3(arch.depthwise)
        dw = arch.depthwise
        self.stem = Focus(3, c, 3)
        self.dark2 = nn.Sequential(conv(c, c * 2, 3, 2), CSPLayer(c * 2, c * 2, n, depthwise=dw))
        self.dark3 = nn.Sequential(conv(c * 2, c * 4, 3, 2), CSPLayer(c * 4, c * 4, n * 3, depthwise=dw))
        self.dark4 = nn.Sequential(conv(c * 4, c * 8, 3, 2), CSPLayer(c * 8, c * 8, n * 3, depthwise=dw))
        self.dark5 = nn.Sequential(conv(c * 8, c * 16, 3, 2), SPPBottleneck(c * 16, c * 16),
                                   CSPLayer(c * 16, c * 16, n, shortcut=False, depthwise=dw))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x3 = self.dark3(self.dark2(self.stem(x)))
        x4 = self.dark4(x3)
        return x3, x4, self.dark5(x4)


class PAFPN(nn.Module):
    """Top-down then bottom-up path aggregation over the backbone's three maps."""

    def __init__(self, arch: YoloxArch) -> None:
        super().__init__()
        self.backbone = CSPDarknet(arch)
        c3, c4, c5 = (int(ch * arch.width) for ch in LEVEL_CHANNELS)
        n = round(3 * arch.depth)
        conv = _conv3(arch.depthwise)
        dw = arch.depthwise
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c5, c4, 1, 1)
        self.C3_p4 = CSPLayer(2 * c4, c4, n, False, dw)
        self.reduce_conv1 = BaseConv(c4, c3, 1, 1)
        self.C3_p3 = CSPLayer(2 * c3, c3, n, False, dw)
        self.bu_conv2 = conv(c3, c3, 3, 2)
        self.C3_n3 = CSPLayer(2 * c3, c4, n, False, dw)
        self.bu_conv1 = conv(c4, c4, 3, 2)
        self.C3_n4 = CSPLayer(2 * c4, c5, n, False, dw)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x3, x4, x5 = self.backbone(x)
        top5 = self.lateral_conv0(x5)
        mid4 = self.C3_p4(torch.cat([self.upsample(top5), x4], dim=1))
        top4 = self.reduce_conv1(mid4)
        out3 = self.C3_p3(torch.cat([self.upsample(top4), x3], dim=1))
        out4 = self.C3_n3(torch.cat([self.bu_conv2(out3), top4], dim=1))
        out5 = self.C3_n4(torch.cat([self.bu_conv1(out4), top5], dim=1))
        return out3, out4, out5


class DecoupledHead(nn.Module):
    """Per level: a 1x1 stem, then two branches of two 3x3 convs each, one for the
    classes, one for the box and objectness; one grid point (no anchors) per cell."""

    def __init__(self, arch: YoloxArch, num_classes: int) -> None:
        super().__init__()
        hidden = int(256 * arch.width)
        conv = _conv3(arch.depthwise)
        self.num_classes = num_classes
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        self.cls_preds = nn.ModuleList()
        self.reg_preds = nn.ModuleList()
        self.obj_preds = nn.ModuleList()
        self.stems = nn.ModuleList()
        for ch in LEVEL_CHANNELS:
            self.stems.append(BaseConv(int(ch * arch.width), hidden, 1, 1))
            self.cls_convs.append(nn.Sequential(conv(hidden, hidden, 3, 1), conv(hidden, hidden, 3, 1)))
            self.reg_convs.append(nn.Sequential(conv(hidden, hidden, 3, 1), conv(hidden, hidden, 3, 1)))
            self.cls_preds.append(nn.Conv2d(hidden, num_classes, 1))
            self.reg_preds.append(nn.Conv2d(hidden, 4, 1))
            self.obj_preds.append(nn.Conv2d(hidden, 1, 1))

    def forward(self, features: tuple[torch.Tensor, ...], logits: bool = False) -> torch.Tensor:
        levels = []
        for k, x in enumerate(features):
            x = self.stems[k](x)
            reg = self.reg_convs[k](x)
            obj, cls = self.obj_preds[k](reg), self.cls_preds[k](self.cls_convs[k](x))
            if not logits:
                obj, cls = obj.sigmoid(), cls.sigmoid()
            out = torch.cat([self.reg_preds[k](reg), obj, cls], dim=1)
            levels.append(out.flatten(start_dim=2))
        return torch.cat(levels, dim=2).permute(0, 2, 1)


class YoloxModel(nn.Module):
    """The whole network; see the module docstring for its input and output."""

    def __init__(self, arch: YoloxArch, num_classes: int = 80) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = PAFPN(arch)
        self.head = DecoupledHead(arch, num_classes)

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        return self.head(self.backbone(x), logits)

    def fuse(self) -> "YoloxModel":
        """Fold every batch norm into its convolution (inference only; the state dict no
        longer has the released keys afterwards)."""
        for module in self.modules():
            if isinstance(module, BaseConv):
                module.fuse()
        return self

    @property
    def fused(self) -> bool:
        return not any(isinstance(m, nn.BatchNorm2d) for m in self.modules())


def build_yolox(arch: str | YoloxArch, num_classes: int = 80, device: torch.device | str | None = None) -> YoloxModel:
    """An untrained YoloxModel of a named size ("nano", "tiny", "s", "m", "l", "x")."""
    spec = ARCHITECTURES[arch] if isinstance(arch, str) else arch
    with torch.device(device or "cpu"):
        return YoloxModel(spec, num_classes)
