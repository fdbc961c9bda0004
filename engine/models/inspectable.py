"""How any feature describes one of its networks to the Feature maps tab.

A feature lists "module:function" references in its ``Feature.inspectables``; each
function returns a :class:`ModelSpec` (or None when the network cannot be built on this
installation). The inspector builds the architecture from it, loads weights from the
catalog entry or a file the user names, and preprocesses frames as ``preprocessing``
says. Living here, below the features, it lets a feature offer its networks without
importing the inspector, and the inspector open them without importing the feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # describing a model needs no torch; building it does
    import torch
    from torch import nn


@dataclass(frozen=True)
class Preprocessing:
    """How a frame becomes the network's input.

    input_size: side of the square input in pixels. mean/std: per channel, applied to
    values scaled to [0, 1], in the network's channel order (RGB, or one gray channel).
    channels: 3 for RGB, 1 for grayscale. resize_size/interpolation: what the weights'
    evaluation transform used (resize the short side, then centre-crop input_size).
    """

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3
    resize_size: int | None = None
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class ModelSpec:
    """An inspectable model.

    build: returns the architecture with random weights (float32, CPU).
    categories: class names of the output units ("" entries when unknown).
    catalog_name: the weights' catalog entry, or None when weights come only from a file.
    family: where it comes from: "torchvision", "builtin", or the key of the feature
    that declared it. ignore_prefixes: state-dict keys of the published checkpoint that
    the inspected architecture leaves out on purpose (GoogLeNet's auxiliary heads).
    rename_keys: maps a published checkpoint's old key names to the current ones.
    """

    name: str
    title: str
    build: Callable[[], nn.Module]
    preprocessing: Preprocessing
    categories: tuple[str, ...] = ()
    catalog_name: str | None = None
    family: str = "torchvision"
    ignore_prefixes: tuple[str, ...] = ()
    rename_keys: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = field(default=None, compare=False)
