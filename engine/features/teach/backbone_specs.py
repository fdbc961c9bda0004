"""The Teach backbones as plain data (no torch import: the CLI's --help lists them)."""

from __future__ import annotations

from dataclasses import dataclass


class BackboneError(ValueError):
    """A backbone name that does not exist, or weights that do not fit it."""


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone the Teach tab offers.

    arch: torchvision builder name. catalog_name: the catalog entry holding its ImageNet
    weights. feature_dim: length of the embedding with ImageNet weights (channels of the
    last block). untrained_blocks: how many blocks an *untrained* backbone keeps: stacked
    random layers scramble the picture more with every block (a linear head on the last
    block of a random MobileNetV3-Small separates three plain colour textures only ~70 %
    of the time, on block 8 of 13 every time), so a random backbone is cut earlier.
    """

    name: str
    title: str
    arch: str
    catalog_name: str
    feature_dim: int
    untrained_blocks: int


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("mobilenet_v3_large", "MobileNetV3-Large", "mobilenet_v3_large", "mobilenet_v3_large", 960, 11),
        BackboneSpec("mobilenet_v3_small", "MobileNetV3-Small", "mobilenet_v3_small", "mobilenet_v3_small", 576, 8),
        BackboneSpec("resnet18", "ResNet-18", "resnet18", "resnet18", 512, 4),
        BackboneSpec("efficientnet_b0", "EfficientNet-B0", "efficientnet_b0", "efficientnet_b0", 1280, 4),
    )
}
DEFAULT_BACKBONE = "mobilenet_v3_large"


def backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise BackboneError(f"unknown backbone '{name}': choose one of {', '.join(BACKBONES)}") from None
