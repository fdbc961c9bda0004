"""How any feature describes one of its networks to the Feature maps tab.

A feature lists "module:function" references in its ``Feature.inspectables``; each
function returns a :class:`ModelSpec` (or None when the network cannot be built on this
installation). The inspector builds the architecture from it, loads weights from the
catalog entry or a file the user names, and preprocesses frames as its ``transforms``
(the one preprocessing vocabulary, ``engine.models.catalog.Transforms``) say. Living here, below the features, it lets a feature offer its networks without
importing the inspector, and the inspector open them without importing the feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.models.catalog import Transforms

if TYPE_CHECKING:  # describing a model needs no torch; building it does
    import torch
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """An inspectable model.

    build: returns the architecture with random weights (float32, CPU).
    transforms: the preprocessing its weights expect (resolved by engine.models.transforms).
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
    transforms: Transforms
    categories: tuple[str, ...] = ()
    catalog_name: str | None = None
    family: str = "torchvision"
    ignore_prefixes: tuple[str, ...] = ()
    rename_keys: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = field(default=None, compare=False)
