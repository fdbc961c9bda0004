"""HGNetV2, the backbone of D-FINE (B0 for N and S, B2+ for larger models, as each config.json gives it).

A stem (stride 4) and four stages; each stage optionally halves the size with a depthwise
3x3 conv, then stacks blocks that concatenate the outputs of a chain of convs and squeeze
them back with two 1x1 convs. Light blocks use a 1x1 conv followed by a depthwise kxk.
Input (N, 3, H, W) RGB in [0, 1]; outputs the feature maps of ``spec.out_stages``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.features.detect.backends.dfine.config import BackboneSpec
from engine.features.detect.backends.dfine.layers import Affine, activation, batch_norm


class ConvBNAct(nn.Module):
    """Conv -> BN -> activation -> optional learnable affine (only after an activation).
    Keys ``convolution.* normalization.* lab.*``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, *,
                 act: str | None = "relu", lab: bool = False, frozen: bool = True) -> None:
        super().__init__()
        self.convolution = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.normalization = batch_norm(cout, 1e-5, frozen)
        self.activation = activation(act)
        self.lab = Affine() if (act and lab) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.lab(self.activation(self.normalization(self.convolution(x))))


class LightConv(nn.Module):
    """1x1 conv (no activation) then a depthwise kxk conv with activation."""

    def __init__(self, cin: int, cout: int, k: int, lab: bool, frozen: bool) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(cin, cout, 1, act=None, lab=lab, frozen=frozen)
        self.conv2 = ConvBNAct(cout, cout, k, groups=cout, lab=lab, frozen=frozen)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


class Block(nn.Module):
    """``layers`` convs in a chain; their outputs and the input are concatenated and squeezed
    to ``cout`` by two 1x1 convs; a residual when the block is not the first of its stage."""

    def __init__(self, cin: int, mid: int, cout: int, n_layers: int, k: int, *, residual: bool,
                 light: bool, lab: bool, frozen: bool) -> None:
        super().__init__()
        self.residual = residual
        self.layers = nn.ModuleList(
            LightConv(cin if i == 0 else mid, mid, k, lab, frozen) if light
            else ConvBNAct(cin if i == 0 else mid, mid, k, lab=lab, frozen=frozen)
            for i in range(n_layers))
        total = cin + n_layers * mid
        self.aggregation = nn.Sequential(ConvBNAct(total, cout // 2, 1, lab=lab, frozen=frozen),
                                         ConvBNAct(cout // 2, cout, 1, lab=lab, frozen=frozen))

    def forward(self, x: Tensor) -> Tensor:
        outs = [x]
        y = x
        for layer in self.layers:
            y = layer(y)
            outs.append(y)
        y = self.aggregation(torch.cat(outs, dim=1))
        return y + x if self.residual else y


class Stage(nn.Module):
    def __init__(self, s: BackboneSpec, i: int, frozen: bool) -> None:
        super().__init__()
        cin, mid, cout = s.stage_in[i], s.stage_mid[i], s.stage_out[i]
        self.downsample = (ConvBNAct(cin, cin, 3, s.stage_strides[i], groups=cin, act=None, frozen=frozen)
                           if s.stage_downsample[i] else nn.Identity())
        self.blocks = nn.ModuleList(
            Block(cin if b == 0 else cout, mid, cout, s.stage_layers[i], s.stage_kernel[i], residual=b != 0,
                  light=s.stage_light[i], lab=s.use_lab, frozen=frozen)
            for b in range(s.stage_blocks[i]))

    def forward(self, x: Tensor) -> Tensor:
        x = self.downsample(x)
        for block in self.blocks:
            x = block(x)
        return x


class Stem(nn.Module):
    """stem1 (3x3, stride 2), then two branches (a 2x2 max pool, and stem2a/stem2b 2x2 convs,
    both on a one-pixel bottom-right pad) concatenated, stem3 (3x3, stride 2), stem4 (1x1)."""

    def __init__(self, s: BackboneSpec, frozen: bool) -> None:
        super().__init__()
        c0, c1, c2 = s.stem_channels
        st = s.stem_strides
        kw = {"act": s.act, "lab": s.use_lab, "frozen": frozen}
        self.stem1 = ConvBNAct(c0, c1, 3, st[0], **kw)
        self.stem2a = _Conv2x2(c1, c1 // 2, st[1], kw)
        self.stem2b = _Conv2x2(c1 // 2, c1, st[2], kw)
        self.stem3 = ConvBNAct(c1 * 2, c1, 3, st[3], **kw)
        self.stem4 = ConvBNAct(c1, c2, 1, st[4], **kw)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=1, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(self.stem1(x), (0, 1, 0, 1))
        branch = self.stem2b(F.pad(self.stem2a(x), (0, 1, 0, 1)))
        x = torch.cat([self.pool(x), branch], dim=1)
        return self.stem4(self.stem3(x))


def _Conv2x2(cin: int, cout: int, stride: int, kw: dict) -> ConvBNAct:  # noqa: N802
    # A 2x2 kernel: (k - 1) // 2 = 0 padding, the explicit pad above keeps the size.
    return ConvBNAct(cin, cout, 2, stride, **kw)


class _Stages(nn.Module):
    def __init__(self, s: BackboneSpec, frozen: bool) -> None:
        super().__init__()
        self.stages = nn.ModuleList(Stage(s, i, frozen) for i in range(len(s.stage_in)))


class HGNetV2(nn.Module):
    """Keys ``embedder.stem*`` and ``encoder.stages.i.*``. (N, 3, H, W) -> list of maps, one
    per ``out_stages`` entry, strides 4 * 2**(stage - 1) for the default strides."""

    def __init__(self, s: BackboneSpec, frozen: bool = True) -> None:
        super().__init__()
        self.out_stages = tuple(s.out_stages)
        self.embedder = Stem(s, frozen)
        self.encoder = _Stages(s, frozen)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.embedder(x)
        outs = []
        for i, stage in enumerate(self.encoder.stages):
            x = stage(x)
            if i + 1 in self.out_stages:
                outs.append(x)
        return outs


class Backbone(nn.Module):
    """The extra ``model.`` level of the released keys (``model.backbone.model.*``)."""

    def __init__(self, s: BackboneSpec, frozen: bool = True) -> None:
        super().__init__()
        self.model = HGNetV2(s, frozen)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.model(x)
