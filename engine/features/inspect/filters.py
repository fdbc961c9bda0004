"""Convolution kernels as pictures.

A first-layer kernel over RGB input is itself a tiny colour image; deeper kernels have
one 2-D slice per input channel and are shown that way. Values are mapped to [0, 1]
symmetrically around zero (0.5 = zero weight), so positive and negative weights stay
comparable and an all-zero kernel is flat gray.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from torch import nn

from engine.features.inspect.layer_table import find_layer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilterView:
    """Kernels of one convolution, ready to draw.

    rgb: (out_channels, kh, kw, 3) float32 in [0, 1] when the layer reads 3 channels
    (R, G, B order, per-kernel symmetric scaling), else None. slices: (out_channels,
    in_channels_per_group, kh, kw) float32 in [0, 1], one gray slice per input channel
    (scaled symmetrically over the whole layer so slices are comparable).
    """

    layer: str
    rgb: np.ndarray | None
    slices: np.ndarray
    weight_shape: tuple[int, ...]


def _symmetric(values: np.ndarray, axes: tuple[int, ...] | None) -> np.ndarray:
    peak = np.abs(values).max(axis=axes, keepdims=axes is not None)
    peak = np.where(peak > 0, peak, 1.0)
    return (0.5 + 0.5 * values / peak).astype(np.float32)


def conv_layers(model: nn.Module) -> list[str]:
    """Names of every 2-D convolution, in model order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def filter_view(model: nn.Module, layer: str, model_name: str = "the model", channel_order: str = "rgb") -> FilterView:
    """The kernels of convolution ``layer``.

    channel_order: the order of the layer's input channels, "rgb" for torchvision
    models; "bgr" would be flipped so the tiles still show true colours.
    """
    module = find_layer(model, layer, model_name)
    if not isinstance(module, nn.Conv2d):
        convs = conv_layers(model)
        raise ValueError(f"'{layer}' is a {type(module).__name__}, not a convolution; convolutions: {', '.join(convs)}")
    weight = module.weight.detach().float().cpu().numpy()  # (out, in/groups, kh, kw)
    rgb = None
    if weight.shape[1] == 3:
        tiles = weight.transpose(0, 2, 3, 1)
        if channel_order == "bgr":
            tiles = tiles[..., ::-1]
        rgb = _symmetric(tiles, axes=(1, 2, 3))
    return FilterView(layer=layer, rgb=rgb, slices=_symmetric(weight, axes=None), weight_shape=tuple(weight.shape))


def first_conv_layer(model: nn.Module) -> str:
    convs = conv_layers(model)
    if not convs:
        raise ValueError("the model has no convolution layer")
    return convs[0]
