"""The Style tab's networks as the Feature maps tab opens them (``Feature.inspectables``)."""

from __future__ import annotations

from engine.models.imagenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_categories
from engine.models.inspectable import ModelSpec, Preprocessing


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
        preprocessing=Preprocessing(input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize_size=256),
        categories=imagenet_categories(),
        catalog_name="vgg19",
    )
