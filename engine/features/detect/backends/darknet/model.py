"""Build a torch ``nn.Module`` from a parsed Darknet cfg.

``DarknetModel.forward(x)`` takes a float tensor (B, 3, H, W), RGB in [0, 1], with H and W
multiples of 32 (any size; the cfg's width/height is only the default), and returns the
raw outputs of its [yolo] heads, each (B, A * (5 + C), H / stride, W / stride) with the
channels ordered anchor-major: for anchor a, channels a*(5+C) + [tx, ty, tw, th, obj,
class_0 ... class_C-1]. Decoding into boxes is ``engine.features.detect.backends.darknet.decode``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.features.detect.backends.darknet.cfg import DarknetCfg, DarknetCfgError, Section
from engine.features.detect.backends.darknet.layers import ConvBlock, MaxPool, Route, Shortcut, Upsample, YoloOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class YoloHeadSpec:
    """What a [yolo] head needs for decoding.

    anchors: (A, 2) float32 anchor widths/heights in pixels of the cfg's network input
    (Darknet convention: they scale with the input size). mask: indices of these anchors
    in the cfg's full anchor list (shown to learners). stride: input pixels per grid cell
    (computed from the layer sizes). new_coords: the head's conv ends in a logistic and
    boxes use the YOLOv4-CSP/v7 parametrisation.
    """

    layer_index: int
    anchors: np.ndarray
    mask: tuple[int, ...]
    num_classes: int
    scale_x_y: float
    new_coords: bool
    stride: int

    @property
    def num_anchors(self) -> int:
        return int(self.anchors.shape[0])


class DarknetModel(nn.Module):
    """The network described by a cfg. Layers run in cfg order; only outputs that a later
    [route]/[shortcut] refers to are kept, so memory stays close to a plain CNN's."""

    def __init__(self, cfg: DarknetCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.in_channels = cfg.channels
        self.input_width, self.input_height = cfg.width, cfg.height
        layers, heads, sources = _build(cfg)
        self.layers = nn.ModuleList(layers)
        self.heads: tuple[YoloHeadSpec, ...] = tuple(heads)
        self._head_indices = tuple(h.layer_index for h in heads)
        keep: set[int] = set()
        for srcs in sources:
            keep.update(srcs)
        self._sources = sources
        self._keep = frozenset(keep)
        self.fused = False
        if self.in_channels == 1:
            # Grayscale cfgs ([net] channels=1) take the same RGB input as the others.
            self.register_forward_pre_hook(_rgb_to_gray)

    @property
    def num_classes(self) -> int:
        return self.heads[0].num_classes if self.heads else 0

    def conv_blocks(self) -> list[ConvBlock]:
        """Convolutions in cfg order: the order their parameters appear in .weights files."""
        return [m for m in self.layers if isinstance(m, ConvBlock)]

    def fuse(self) -> "DarknetModel":
        """Fold every batch norm into its convolution (inference only; do after loading)."""
        for block in self.conv_blocks():
            block.fuse()
        self.fused = True
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        kept: dict[int, torch.Tensor] = {}
        outputs: list[torch.Tensor] = []
        heads = self._head_indices
        keep = self._keep
        for index, layer in enumerate(self.layers):
            if isinstance(layer, Route):
                x = layer([kept[i] for i in layer.sources])
            elif isinstance(layer, Shortcut):
                x = layer(x, [kept[i] for i in layer.sources])
            else:
                x = layer(x)
            if index in keep:
                kept[index] = x
            if index in heads:
                outputs.append(x)
        return outputs


def _rgb_to_gray(module: nn.Module, args: tuple) -> tuple | None:
    """Forward pre-hook of 1-channel models: (B, 3, H, W) RGB -> (B, 1, H, W) luma (BT.601,
    the weights Darknet's image loader uses when it reads a picture as grayscale)."""
    x = args[0]
    if x.shape[1] != 3:
        return None
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (0.299 * r + 0.587 * g + 0.114 * b,) + tuple(args[1:])


def _check_budget(s: Section, parameters: int, c: int, h: int, w: int, key: str | None = None) -> None:
    """Refuse a cfg whose parameters or a layer's output (at the cfg's size) exceed the
    limit, before the tensors are allocated (a 10-line cfg can ask for many GB)."""
    from engine.core import limits

    limit = limits.current()
    if parameters > limit.max_cfg_parameters:
        raise s.error(key, f"the cfg needs {parameters:,} parameters by this layer, more than the "
                            f"limit of {limit.max_cfg_parameters:,} ({limit.hint('max_cfg_parameters')})")
    if c * h * w > limit.max_cfg_parameters:
        raise s.error(key, f"this layer's output is {c}x{h}x{w} = {c * h * w:,} values, more than the "
                            f"limit of {limit.max_cfg_parameters:,} ({limit.hint('max_cfg_parameters')})")


def _resolve(section: Section, key: str, value: int) -> int:
    index = value + section.index if value < 0 else value
    if not 0 <= index < section.index:
        raise section.error(key, f"{key} refers to layer {value} (absolute {index}), but only layers "
                                 f"0..{section.index - 1} come before layer {section.index}")
    return index


def _build(cfg: DarknetCfg) -> tuple[list[nn.Module], list[YoloHeadSpec], list[list[int]]]:
    """Create the modules, tracking (channels, height, width) at the cfg's input size so
    every inconsistency is reported with its line before any tensor is allocated."""
    shapes: list[tuple[int, int, int]] = []
    c, h, w = cfg.channels, cfg.height, cfg.width
    if h % 32 or w % 32:
        raise cfg.net.error("height" if h % 32 else "width",
                            f"network size {w}x{h} must be a multiple of 32")
    layers: list[nn.Module] = []
    heads: list[YoloHeadSpec] = []
    sources: list[list[int]] = []
    parameters = 0
    for s in cfg.layers:
        srcs: list[int] = []
        if s.kind == "convolutional":
            filters, size = s.get_int("filters"), s.get_int("size", 1)
            stride = s.get_int("stride", 1)
            for key in ("stride_x", "stride_y"):
                if s.has(key) and s.get_int(key) not in (-1, stride):
                    raise s.error(key, f"{key} different from stride is not supported")
            padding = size // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
            groups = s.get_int("groups", 1)
            if filters <= 0 or size <= 0 or stride <= 0:
                raise s.error(None, f"(line {s.line}) filters, size and stride must be positive")
            if c % groups or filters % groups:
                raise s.error("groups", f"groups={groups} must divide the input channels ({c}) and filters ({filters})")
            parameters += filters * (c // groups) * size * size + filters * (4 if s.get_int("batch_normalize", 0) else 1)
            _check_budget(s, parameters, filters, (h + 2 * padding - size) // stride + 1,
                          (w + 2 * padding - size) // stride + 1, key="filters")
            layer: nn.Module = ConvBlock(c, filters, size, stride, padding, groups,
                                         s.get_int("batch_normalize", 0) == 1,
                                         s.get_str("activation", "logistic"))
            c, h, w = filters, (h + 2 * padding - size) // stride + 1, (w + 2 * padding - size) // stride + 1
        elif s.kind == "maxpool":
            stride = s.get_int("stride", 1)
            for key in ("stride_x", "stride_y"):
                if s.has(key) and s.get_int(key) != stride:
                    raise s.error(key, f"{key} different from stride is not supported")
            size = s.get_int("size", stride)
            layer = MaxPool(size, stride, s.get_int("padding", size - 1))
            h, w = layer.output_size(h), layer.output_size(w)
        elif s.kind == "route":
            srcs = [_resolve(s, "layers", v) for v in s.get_ints("layers")]
            if not srcs:
                raise s.error("layers", "layers= is empty")
            groups, group_id = s.get_int("groups", 1), s.get_int("group_id", 0)
            if groups < 1 or not 0 <= group_id < groups:
                raise s.error("group_id", f"group_id={group_id} must be in 0..groups-1 (groups={groups})")
            first = shapes[srcs[0]]
            total = 0
            for i in srcs:
                ci, hi, wi = shapes[i]
                if (hi, wi) != first[1:]:
                    raise s.error("layers", f"cannot concatenate layer {i} ({wi}x{hi}) with layer "
                                            f"{srcs[0]} ({first[2]}x{first[1]}): sizes differ")
                if ci % groups:
                    raise s.error("groups", f"layer {i} has {ci} channels, not divisible by groups={groups}")
                total += ci // groups
            layer = Route(srcs, groups, group_id)
            c, h, w = total, first[1], first[2]
        elif s.kind == "shortcut":
            srcs = [_resolve(s, "from", v) for v in s.get_ints("from")]
            for i in srcs:
                if shapes[i][1:] != (h, w):
                    raise s.error("from", f"layer {i} is {shapes[i][2]}x{shapes[i][1]}, the previous layer "
                                          f"{w}x{h}: a shortcut needs equal sizes")
            layer = Shortcut(srcs, s.get_str("activation", "linear"))
        elif s.kind == "upsample":
            stride = s.get_int("stride", 2)
            if stride < 1:
                raise s.error("stride", f"stride={stride}: only positive upsampling factors are supported")
            layer = Upsample(stride, s.get_float("scale", 1.0))
            h, w = h * stride, w * stride
        elif s.kind == "yolo":
            layer = YoloOutput()
            heads.append(_yolo_spec(s, c, cfg.height // max(h, 1)))
        else:  # the parser only lets supported kinds through
            raise s.error(None, "unsupported layer")
        if h <= 0 or w <= 0:
            raise s.error(None, f"(line {s.line}) the feature map vanished ({w}x{h}); the input is too small")
        _check_budget(s, parameters, c, h, w)
        layers.append(layer)
        sources.append(srcs)
        shapes.append((c, h, w))
    if not heads:
        raise DarknetCfgError(f"{cfg.source}: no [yolo] layer; only YOLO detection cfgs can be run")
    classes = {hd.num_classes for hd in heads}
    if len(classes) > 1:
        raise DarknetCfgError(f"{cfg.source}: [yolo] layers disagree on classes= ({sorted(classes)})")
    return layers, heads, sources


def _yolo_spec(s: Section, channels: int, stride: int) -> YoloHeadSpec:
    classes = s.get_int("classes", 20)
    anchors = s.get_floats("anchors")
    if len(anchors) % 2:
        raise s.error("anchors", f"anchors= has {len(anchors)} numbers; it needs width,height pairs")
    total = s.get_int("num", len(anchors) // 2)
    if total * 2 > len(anchors):
        raise s.error("num", f"num={total} anchors, but anchors= lists only {len(anchors) // 2}")
    mask = s.get_ints("mask") if s.has("mask") else list(range(total))
    for m in mask:
        if not 0 <= m < total:
            raise s.error("mask", f"mask index {m} is outside the {total} anchors")
    pairs = np.asarray(anchors, dtype=np.float32).reshape(-1, 2)[mask]
    expected = len(mask) * (5 + classes)
    if channels != expected:
        raise s.error(None, f"(line {s.line}) the previous layer has {channels} filters, but {len(mask)} "
                            f"anchors x (5 + {classes} classes) = {expected} are needed")
    return YoloHeadSpec(layer_index=s.index, anchors=pairs, mask=tuple(mask), num_classes=classes,
                        scale_x_y=s.get_float("scale_x_y", 1.0), new_coords=s.get_int("new_coords", 0) == 1,
                        stride=stride)
