"""The Style tab's networks as the Feature maps tab opens them (``Feature.inspectables``)."""

from __future__ import annotations

from engine.models.catalog import Transforms
from engine.models.imagenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_categories
from engine.models.inspectable import ModelSpec


def vgg19_spec() -> ModelSpec:
    """Torchvision's ImageNet VGG-19, whose ``features`` the Gatys optimisation reads.

    Its trained weights are this feature's catalog entry ``vgg19``; the whole classifier
    is inspectable, with ImageNet's 1000 categories.
    """
    import torchvision.models as tvm

    return ModelSpec(
        name="vgg19",
        title="VGG-19",
        build=lambda: tvm.vgg19(weights=None),
        # torchvision's evaluation preprocessing of its ImageNet VGGs: short side 256, centre 224.
        transforms=Transforms(size=(224, 224), resize="crop", resize_size=256, colour="RGB", scale=1.0 / 255.0,
                              mean=IMAGENET_MEAN, std=IMAGENET_STD),
        categories=imagenet_categories(),
        catalog_name="vgg19",
    )
