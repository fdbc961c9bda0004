"""Catalog lookups and weight loading for the style package.

Everything that turns "the user wants Gatys/AdaIN" into tensors goes through here, so
the GUI and the CLI give the same messages when weights are missing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from engine.weights.cache import WeightsCache, default_cache
from engine.weights.catalog import CatalogEntry, catalog

log = logging.getLogger(__name__)

VGG19 = "vgg19"
ADAIN_ENCODER = "adain-vgg"
ADAIN_DECODER = "adain-decoder"


def entry(name: str) -> CatalogEntry:
    return catalog().get(name)


def is_installed(name: str, cache: WeightsCache | None = None) -> bool:
    return (cache or default_cache()).is_installed(entry(name))


def gatys_available(cache: WeightsCache | None = None) -> bool:
    """Whether photo mode (Gatys) can run: the vgg19 weights are installed."""
    return is_installed(VGG19, cache)


def adain_available(cache: WeightsCache | None = None) -> bool:
    """Whether AdaIN can run: encoder and decoder weights are installed."""
    return is_installed(ADAIN_ENCODER, cache) and is_installed(ADAIN_DECODER, cache)


def load_vgg19(cache: WeightsCache | None = None) -> dict[str, torch.Tensor]:
    """VGG-19 conv weights from the cache; WeightsMissingError says how to install them."""
    from engine.style.vgg import load_vgg19_state_dict

    path = (cache or default_cache()).require(entry(VGG19))
    log.info("loading VGG-19 from %s", path)
    return load_vgg19_state_dict(path)


def adain_paths(cache: WeightsCache | None = None) -> tuple[Path, Path]:
    """(encoder, decoder) paths; WeightsMissingError names the first missing one."""
    c = cache or default_cache()
    return c.require(entry(ADAIN_ENCODER)), c.require(entry(ADAIN_DECODER))


def load_adain(device: torch.device | str = "cpu", cache: WeightsCache | None = None):
    """An ``AdaINStylizer`` on ``device`` from the installed weights."""
    from engine.style.adain import AdaINStylizer, load_decoder_state, load_encoder_state

    enc_path, dec_path = adain_paths(cache)
    return AdaINStylizer(load_encoder_state(enc_path), load_decoder_state(dec_path), device)
