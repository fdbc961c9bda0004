"""Catalog entries of the Segment tab: torchvision's semantic segmentation models.

All four were trained by torchvision on a COCO subset with the 20 Pascal VOC categories
plus background (21 classes; ``VOC_CLASSES``, index = class id). Their checkpoints are
plain state_dicts; DeepLabV3 and FCN ones also hold an auxiliary head used only in
training, which we do not build (``model.AUX_PREFIX`` is skipped when loading).

Preprocessing is torchvision's ``SemanticSegmentation`` transform of these weights: the
short side resized to 520 px (aspect kept, bilinear), RGB, ImageNet mean/std.
``Transforms`` states the normalisation; the short side, which ``Transforms`` has no word
for, is ``meta["short_side"]`` (``model.input_size`` turns it into a size per frame).
The networks give logits at their input's size; the label map is their argmax after a
bilinear resize to the frame (``model.Segmenter``).
"""

from __future__ import annotations

from pathlib import Path

from engine.models.catalog import CatalogEntry, ModelFile, Transforms
from engine.models.imagenet import IMAGENET_MEAN, IMAGENET_STD

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train", "tv/monitor",
)
PERSON = VOC_CLASSES.index("person")

SEGMENTATION_TRANSFORMS = Transforms(size=None, resize="stretch", colour="RGB", scale=1 / 255,
                                     mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation="bilinear")

_LICENSE = "BSD-3-Clause (torchvision); trained on COCO 2017 with the 20 VOC categories"
_SOURCE = "https://pytorch.org/vision/stable/models.html#semantic-segmentation"


def _build(entry: CatalogEntry, cache=None, device=None, options=None):
    from engine.features.segment.model import Segmenter
    from engine.models.cache import default_cache

    if options is not None:
        raise ValueError(f"{entry.name} takes no build options (got {options!r})")
    weights = (cache or default_cache()).require(entry)
    return Segmenter.from_file(entry, weights, device=device)


def _validator(architecture: str):
    def validate(path: Path) -> None:
        # weights_only into the real architecture: another model's file or a pickle is
        # refused before it is installed or its hash recorded.
        from engine.features.segment.model import build_network, load_weights
        load_weights(build_network(architecture), path, model_name=architecture)
    return validate


def _entry(name: str, title: str, url: str, description: str, num_params: int, miou: float,
           default: bool = False) -> CatalogEntry:
    return CatalogEntry(
        name=name, task="segment", title=title,
        files=(ModelFile(Path(url).name, url),),
        license=_LICENSE, source=_SOURCE, description=description, default=default,
        transforms=SEGMENTATION_TRANSFORMS,
        meta={"categories": VOC_CLASSES, "architecture": name, "short_side": 520, "num_params": num_params,
              "accuracy": {"COCO-val2017-VOC-labels mIoU": miou}},
        builder=_build, validator=_validator(name),
    )


ENTRIES: list[CatalogEntry] = [
    _entry("lraspp_mobilenet_v3_large", "LR-ASPP MobileNetV3-Large (torchvision, VOC classes)",
           "https://download.pytorch.org/models/lraspp_mobilenet_v3_large-d234d4ea.pth",
           "Lite R-ASPP head on a mobile backbone: the fast one, live on a CPU (person mode).",
           3_221_538, 57.9, default=True),
    _entry("deeplabv3_mobilenet_v3_large", "DeepLabV3 MobileNetV3-Large (torchvision, VOC classes)",
           "https://download.pytorch.org/models/deeplabv3_mobilenet_v3_large-fc3c493d.pth",
           "Atrous spatial pyramid pooling (rates 12, 24, 36) on a mobile backbone.", 11_029_328, 60.3),
    _entry("deeplabv3_resnet50", "DeepLabV3 ResNet-50 (torchvision, VOC classes)",
           "https://download.pytorch.org/models/deeplabv3_resnet50_coco-cd0a2569.pth",
           "ASPP on a dilated ResNet-50 (output stride 8): the most accurate, slow on a CPU.", 42_004_074, 66.4),
    _entry("fcn_resnet50", "FCN ResNet-50 (torchvision, VOC classes)",
           "https://download.pytorch.org/models/fcn_resnet50_coco-1167a1af.pth",
           "Fully convolutional network: a 3x3 head on a dilated ResNet-50, upsampled bilinearly.", 35_322_218, 60.5),
]
