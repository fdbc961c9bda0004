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

Instance models (``meta["kind"] == "instances"``): torchvision's Mask R-CNN (v1 and v2,
the 91 COCO ids, ``coco.COCO_CATEGORIES``) and Keypoint R-CNN (person boxes and COCO's 17
keypoints). They normalise and resize inside the network (short side ``meta["min_size"]``
800, long side at most 1333), which ``Transforms`` states as its normalisation; their
builder returns an ``instances.InstanceModel``. Seconds per frame on a CPU: the Segment tab
runs them on a paused frame or a photo, never on every live frame.
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


_INSTANCE_LICENSE = "BSD-3-Clause (torchvision); trained on COCO 2017 (train2017)"
_INSTANCE_SOURCE = "https://pytorch.org/vision/stable/models.html#object-detection-instance-segmentation-and-person-keypoint-detection"


def _build_instances(entry: CatalogEntry, cache=None, device=None, options=None):
    from engine.features.segment.instances import InstanceModel
    from engine.models.cache import default_cache

    if options is not None:
        raise ValueError(f"{entry.name} takes no build options (got {options!r})")
    weights = (cache or default_cache()).require(entry)
    return InstanceModel.from_file(entry, weights, device=device)


def _instance_validator(architecture: str):
    def validate(path: Path) -> None:
        from engine.features.segment.instances import build_instance_network, load_instance_weights
        load_instance_weights(build_instance_network(architecture), path, model_name=architecture)
    return validate


def _instance_entry(name: str, title: str, url: str, description: str, num_params: int, accuracy: dict,
                    keypoints: bool = False) -> CatalogEntry:
    from engine.features.segment.coco import COCO_CATEGORIES, KEYPOINT_NAMES, PERSON_CATEGORIES

    meta = {"kind": "instances", "categories": PERSON_CATEGORIES if keypoints else COCO_CATEGORIES,
            "architecture": name, "min_size": 800, "max_size": 1333, "num_params": num_params, "accuracy": accuracy,
            "masks": not keypoints, "live": False}
    if keypoints:
        meta["keypoint_names"] = KEYPOINT_NAMES
    return CatalogEntry(
        name=name, task="segment", title=title, files=(ModelFile(Path(url).name, url),),
        license=_INSTANCE_LICENSE, source=_INSTANCE_SOURCE, description=description,
        transforms=Transforms(size=None, resize="stretch", colour="RGB", scale=1 / 255, mean=IMAGENET_MEAN,
                              std=IMAGENET_STD, interpolation="bilinear"),
        meta=meta, builder=_build_instances, validator=_instance_validator(name))


INSTANCE_ENTRIES: list[CatalogEntry] = [
    _instance_entry("maskrcnn_resnet50_fpn", "Mask R-CNN ResNet-50 FPN (torchvision, COCO instances)",
                    "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
                    "A mask per object (80 COCO classes): region proposals, then a box, a class and a 28x28 mask "
                    "per region. Seconds per frame on a CPU: runs on a paused frame or a photo.",
                    44_401_393, {"COCO-val2017 box mAP": 37.9, "COCO-val2017 mask mAP": 34.6}),
    _instance_entry("maskrcnn_resnet50_fpn_v2", "Mask R-CNN ResNet-50 FPN v2 (torchvision, COCO instances)",
                    "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
                    "Mask R-CNN with the improved training recipe (deeper heads with batch norm): more accurate, "
                    "slower. Runs on a paused frame or a photo.",
                    46_359_409, {"COCO-val2017 box mAP": 47.4, "COCO-val2017 mask mAP": 41.8}),
    _instance_entry("keypointrcnn_resnet50_fpn", "Keypoint R-CNN ResNet-50 FPN (torchvision, person keypoints)",
                    "https://download.pytorch.org/models/keypointrcnn_resnet50_fpn_coco-fc266e95.pth",
                    "Landmark detection: each person's 17 COCO keypoints (eyes, shoulders, knees...) drawn as a "
                    "skeleton. Runs on a paused frame or a photo.",
                    59_137_258, {"COCO-val2017 box mAP": 54.6, "COCO-val2017 keypoint mAP": 65.0}, keypoints=True),
]

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
] + INSTANCE_ENTRIES
