"""The style package's models, resolved through the catalog (and the user's own fast styles).

Every loader goes through ``entry.build(cache, device)``: the catalog entry is the one
place that knows a model's files and layout, so the GUI and the CLI give the same
messages when weights are missing. ``fast_model(spec)`` accepts a catalog name
(``fast-candy``, a user style) or a path to any ``.pth`` in the TransformerNet layout.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from engine.models.cache import WeightsCache, default_cache
from engine.models.catalog import CatalogEntry, UnknownModelError, catalog

log = logging.getLogger(__name__)

VGG19 = "vgg19"
VGG16 = "vgg16"  # the inspect catalog's entry: the loss network of fast-style training
ADAIN_ENCODER = "adain-vgg"
ADAIN_DECODER = "adain-decoder"


def _c(cache: WeightsCache | None) -> WeightsCache:
    return cache if cache is not None else default_cache()


def entry(name: str, cache: WeightsCache | None = None) -> CatalogEntry:
    """The catalog entry ``name``, or the user's fast style of that name (UnknownModelError lists the known ones)."""
    try:
        return catalog().get(name)
    except UnknownModelError:
        from engine.features.style.user_styles import find_user_style

        found = find_user_style(_c(cache), name)
        if found is None:
            raise
        return found


def is_installed(name: str, cache: WeightsCache | None = None) -> bool:
    return _c(cache).is_installed(entry(name, cache))


def gatys_available(cache: WeightsCache | None = None) -> bool:
    """Whether photo mode (Gatys) can run: the vgg19 weights are installed."""
    return is_installed(VGG19, cache)


def adain_available(cache: WeightsCache | None = None) -> bool:
    """Whether AdaIN can run: encoder and decoder weights are installed."""
    return is_installed(ADAIN_ENCODER, cache) and is_installed(ADAIN_DECODER, cache)


def fast_entries(cache: WeightsCache | None = None) -> list[CatalogEntry]:
    """Fast-style models: the four presets, then the user's own (installed or not)."""
    from engine.features.style.user_styles import user_style_entries

    presets = [e for e in catalog().entries("style") if e.name.startswith("fast-")]
    return presets + user_style_entries(_c(cache))


def load_vgg19(cache: WeightsCache | None = None) -> dict[str, torch.Tensor]:
    """VGG-19 conv weights from the cache; WeightsMissingError says how to install them."""
    return entry(VGG19).build(_c(cache), None)


def load_vgg16(cache: WeightsCache | None = None) -> dict[str, torch.Tensor]:
    """VGG-16 conv weights (torchvision layout) for the perceptual loss of training."""
    from engine.features.style.vgg16 import load_state

    return load_state(_c(cache).require(entry(VGG16)))


def load_adain(device: torch.device | str = "cpu", cache: WeightsCache | None = None):
    """An ``AdaINStylizer`` on ``device`` from the installed weights."""
    from engine.features.style.adain import AdaINStylizer

    c = _c(cache)
    return AdaINStylizer(entry(ADAIN_ENCODER).build(c, None), entry(ADAIN_DECODER).build(c, None), device)


def fast_model(spec: str | Path, device: torch.device | str = "cpu", cache: WeightsCache | None = None, options: Any = None):
    """A ``FastStylizer`` from a catalog name or a .pth file path.

    Raises UnknownModelError (unknown name), WeightsMissingError (not installed) or
    FastStyleWeightsError (a file of another layout, naming the first mismatching key).
    """
    from engine.features.style.fast_style import FastStylizer, load_fast_file

    text = str(spec)
    if text.endswith((".pth", ".pt", ".model")) or Path(text).is_file():
        return load_fast_file(text, device, options)
    model = entry(text, cache).build(_c(cache), device)
    if options is not None:
        model = FastStylizer(model.net, device, name=model.name, options=options)
    return model
