"""Catalog entries of the Teach backbones that no other feature already lists.

ResNet-18, MobileNetV3-Large and EfficientNet-B0 reuse the Feature maps tab's ImageNet
entries (``engine/features/inspect/catalog.py``); only MobileNetV3-Small is new here. The URL is
torchvision's published checkpoint (BSD-3-Clause, trained on ImageNet-1k, whose terms
restrict use to non-commercial research and education).
"""

from __future__ import annotations

from engine.models.catalog import CatalogEntry, ModelFile, Transforms

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The Teach preprocessing: the largest centred square, resized to 224 x 224, RGB, ImageNet normalisation.
TEACH_TRANSFORMS = Transforms(size=(224, 224), resize="crop", colour="RGB", scale=1.0 / 255.0,
                              mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _build(entry: CatalogEntry, cache, device):
    from engine.features.teach.backbones import build_torchvision

    return build_torchvision("mobilenet_v3_small", entry, cache, device)


ENTRIES: list[CatalogEntry] = [
    CatalogEntry(
        name="mobilenet_v3_small",
        task="teach",
        title="MobileNet v3 Small (ImageNet)",
        files=(ModelFile("mobilenet_v3_small-047dcff4.pth",
                         "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth"),),
        license="BSD-3-Clause",
        source="https://github.com/pytorch/vision (torchvision.models)",
        description="MobileNet v3 Small: ImageNet top-1 67.7 %, the fastest Teach backbone. Trained by torchvision. "
                    "Trained on ImageNet-1k (1000 classes); the dataset's terms (non-commercial research) may apply to the weights.",
        transforms=TEACH_TRANSFORMS,
        meta={"num_params": 2542856, "accuracy": {"ImageNet-1k top-1": 67.668}, "embedding_dim": 576},
        builder=_build,
    ),
]
