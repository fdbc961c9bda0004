"""Catalog entries of the Detect tab: Darknet YOLO models and torchvision alternatives.

YOLO entries list only the .weights file; the matching official cfg ships in
resources/darknet (``meta["cfg"]``), so ``models import yolov4-tiny FILE.weights``
is all an offline user needs. Sizes of the .weights files are exact (they follow from
the cfg: 20-byte header + 4 bytes per parameter) and are checked by the validator.

Each entry's ``builder(entry, cache, device, options=None)`` returns a ready ``Detector``;
``options`` is a ``DetectorOptions``, checked against the entry's ``capabilities`` first
(what is not declared there is refused with a message, never dropped). Detection-specific
meta keys, besides ``categories``: ``cfg`` (the bundled Darknet cfg), ``architecture``
(the torchvision constructor).
"""

from __future__ import annotations

from pathlib import Path

from engine.core.paths import resources_dir
from engine.features.detect.backends.darknet.capabilities import DARKNET_TRANSFORMS, darknet_capabilities
from engine.features.detect.backends.detr.entries import ENTRIES as DETR_ENTRIES
from engine.features.detect.backends.dfine.entries import ENTRIES as DFINE_ENTRIES
from engine.features.detect.backends.yolox.entries import ENTRIES as _YOLOX_ENTRIES
from engine.features.detect.names import bundled_path, coco91_names, read_names
from engine.models.catalog import Capabilities, CatalogEntry, InputSize, ModelFile, Transforms

_RESOURCES = resources_dir()
_COCO80 = read_names(bundled_path("coco.names"), expected=80)
_COCO91 = coco91_names()  # torchvision's list, background first

def _torchvision_capabilities(input_size: int) -> Capabilities:
    """torchvision's detectors resize and normalise inside their forward and are run as
    published: a fixed input, float32, NMS inside the model and again in ours."""
    return Capabilities(input_size=InputSize(default=(input_size, input_size), adjustable=False),
                        postprocess="nms", tracks=True)


def _build_darknet(entry: CatalogEntry, cache=None, device=None, options=None):
    from engine.features.detect.backends.darknet.detector import yolo_from_files
    from engine.features.detect.options import DetectorOptions
    from engine.models.cache import default_cache

    options = options or DetectorOptions()
    options.check(entry.capabilities, entry.name)
    weights = (cache or default_cache()).require(entry)
    return yolo_from_files(bundled_path(entry.meta["cfg"]), weights, bundled_path("coco.names"), options,
                           name=entry.name, device=device, transforms=entry.transforms,
                           default_size=entry.transforms.size if entry.transforms else None)


def _build_torchvision(entry: CatalogEntry, cache=None, device=None, options=None):
    from engine.features.detect.backends.torchvision import TorchvisionDetector
    from engine.features.detect.options import DetectorOptions
    from engine.models.cache import default_cache

    options = options or DetectorOptions()
    options.check(entry.capabilities, entry.name)
    weights = (cache or default_cache()).require(entry)
    thresholds = {"conf_threshold": options.conf_threshold}
    if options.iou_threshold is not None:
        thresholds["iou_threshold"] = options.iou_threshold
    return TorchvisionDetector.from_file(entry.meta["architecture"], weights, name=entry.name, device=device,
                                         transforms=entry.transforms, **thresholds)

_DARKNET_LICENSE = "Public domain (YOLO license: \"Darknet is public domain\")"
_DARKNET_CFG_URL = "https://raw.githubusercontent.com/AlexeyAB/darknet/master/cfg/{}.cfg"


def _validate_darknet(cfg_name: str):
    def validate(path: Path) -> None:
        # ``path`` may be a temporary name (the cache validates before renaming).
        from engine.features.detect.factory import check_weights_file
        check_weights_file(cfg_name, path)
    return validate


def _yolo(name: str, title: str, url: str, size: int, source: str, description: str,
          default: bool = False) -> CatalogEntry:
    return CatalogEntry(
        name=name, task="detect", title=title,
        files=(ModelFile(f"{name}.weights", url, size=size),),
        license=_DARKNET_LICENSE, source=source, description=description,
        transforms=DARKNET_TRANSFORMS,
        capabilities=darknet_capabilities(DARKNET_TRANSFORMS.size),
        meta={"categories": _COCO80, "cfg": f"{name}.cfg", "cfg_url": _DARKNET_CFG_URL.format(name)},
        builder=_build_darknet, default=default, validator=_validate_darknet(f"{name}.cfg"),
    )


_TORCHVISION_LICENSE = "BSD-3-Clause (torchvision); trained on COCO 2017"


def _validate_torchvision(architecture: str):
    def validate(path: Path) -> None:
        # Loads with weights_only=True into the real architecture: a pickle or a state_dict
        # of another model is refused before it is installed or its hash recorded.
        from engine.features.detect.backends.torchvision import build_model, load_state_dict_file
        load_state_dict_file(build_model(architecture), path)
    return validate


def _torchvision(name: str, title: str, url: str, description: str, input_size: int) -> CatalogEntry:
    return CatalogEntry(
        name=name, task="detect", title=title,
        files=(ModelFile(Path(url).name, url),),
        license=_TORCHVISION_LICENSE, source="https://pytorch.org/vision/stable/models.html#object-detection",
        description=description,
        # Whole frames, RGB in [0, 1]: the model resizes (to input_size) and normalises inside its forward.
        transforms=Transforms(size=None, resize="stretch", colour="RGB", scale=1 / 255),
        capabilities=_torchvision_capabilities(input_size),
        meta={"categories": _COCO91, "architecture": name},
        builder=_build_torchvision,
        validator=_validate_torchvision(name),
    )


ENTRIES: list[CatalogEntry] = [
    _yolo("yolov4-tiny", "YOLOv4-tiny (Darknet, COCO)",
          "https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v4_pre/yolov4-tiny.weights",
          24_251_276, "https://github.com/AlexeyAB/darknet",
          "Fast two-head YOLO: camera rate on a laptop CPU. 80 COCO classes.", default=True),
    _yolo("yolov3-tiny", "YOLOv3-tiny (Darknet, COCO)", "https://pjreddie.com/media/files/yolov3-tiny.weights",
          35_434_956, "https://pjreddie.com/darknet/yolo/",
          "The classic small YOLOv3: two heads, leaky ReLU, maxpool stride 1."),
    _yolo("yolov7-tiny", "YOLOv7-tiny (Darknet, COCO)",
          "https://github.com/AlexeyAB/darknet/releases/download/yolov4/yolov7-tiny.weights",
          24_967_560, "https://github.com/AlexeyAB/darknet",
          "Three heads with the new_coords box parametrisation; more accurate than v4-tiny."),
    _yolo("yolov4", "YOLOv4 (Darknet, COCO)",
          "https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v3_optimal/yolov4.weights",
          257_717_640, "https://github.com/AlexeyAB/darknet",
          "Full-size YOLOv4 (64M parameters, mish, SPP): accurate, needs a GPU for camera rate."),
    _yolo("yolov3", "YOLOv3 (Darknet, COCO)", "https://pjreddie.com/media/files/yolov3.weights",
          248_007_048, "https://pjreddie.com/darknet/yolo/",
          "Full-size YOLOv3 (Darknet-53 backbone, three heads)."),
    _torchvision("ssdlite320_mobilenet_v3_large", "SSDlite320 MobileNetV3-Large (torchvision)",
                 "https://download.pytorch.org/models/ssdlite320_mobilenet_v3_large_coco-a79551df.pth",
                 "Single-shot detector on a mobile backbone; no anchors grid view.", 320),
    _torchvision("fasterrcnn_mobilenet_v3_large_320_fpn", "Faster R-CNN MobileNetV3-Large 320 FPN (torchvision)",
                 "https://download.pytorch.org/models/fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
                 "Two-stage detector (region proposals + classifier) at low resolution.", 320),
]
ENTRIES += _YOLOX_ENTRIES
ENTRIES += DETR_ENTRIES
ENTRIES += DFINE_ENTRIES
