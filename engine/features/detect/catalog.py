"""Catalog entries of the Detect tab: Darknet YOLO models and torchvision alternatives.

YOLO entries list only the .weights file; the matching official cfg ships in
resources/darknet (``meta["cfg"]``), so ``models import yolov4-tiny FILE.weights``
is all an offline user needs. Sizes of the .weights files are exact (they follow from
the cfg: 20-byte header + 4 bytes per parameter) and are checked by the validator.

Each entry's ``builder(entry, cache, device, **options)`` returns a ready ``Detector``;
options are the detector's own (conf_threshold, iou_threshold, input_size, bf16, ...).
Detection-specific meta keys, besides ``categories``: ``cfg`` (the bundled Darknet cfg),
``architecture`` (the torchvision constructor), ``adjustable_input`` (the network input
size may be changed live, e.g. 320x320..608x608), ``anchor_grid`` (the "show the grid"
view applies), ``precisions`` (the CPU precisions it can run in; fp32 only when absent).
"""

from __future__ import annotations

from pathlib import Path

from engine.features.detect.names import bundled_path, read_names
from engine.models.catalog import CatalogEntry, ModelFile, Transforms
from engine.core.paths import resources_dir

_RESOURCES = resources_dir()
_COCO80 = read_names(bundled_path("coco.names"), expected=80)
_COCO91 = read_names(_RESOURCES / "detection" / "coco91.names", expected=91)  # torchvision's list, background first
_TORCHVISION_ONLY_OPTIONS = ("input_size", "letterbox", "bf16", "int8", "compile", "channels_last")


def _build_darknet(entry: CatalogEntry, cache=None, device=None, **options):
    from engine.features.detect.backends.darknet.detector import YoloDetector
    from engine.models.cache import default_cache
    weights = (cache or default_cache()).require(entry)
    options.setdefault("input_size", entry.transforms.size if entry.transforms else None)
    return YoloDetector.from_files(bundled_path(entry.meta["cfg"]), weights, bundled_path("coco.names"),
                                   name=entry.name, device=device, **options)


def _build_torchvision(entry: CatalogEntry, cache=None, device=None, **options):
    from engine.features.detect.backends.torchvision import TorchvisionDetector
    from engine.models.cache import default_cache
    weights = (cache or default_cache()).require(entry)
    for yolo_only in _TORCHVISION_ONLY_OPTIONS:
        options.pop(yolo_only, None)  # these models resize internally and run as published
    return TorchvisionDetector.from_file(entry.meta["architecture"], weights, name=entry.name, device=device, **options)

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
        # "stretch" unless the cfg says letter_box=1 (the detector reads the cfg for that).
        transforms=Transforms(size=(416, 416), resize="stretch", colour="RGB", scale=1 / 255),
        meta={"categories": _COCO80, "cfg": f"{name}.cfg", "cfg_url": _DARKNET_CFG_URL.format(name),
              "adjustable_input": True, "anchor_grid": True, "precisions": ("fp32", "bf16", "int8")},
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
        # The model resizes (to input_size) and normalises inside its forward.
        transforms=Transforms(size=(input_size, input_size), resize="stretch", colour="RGB", scale=1 / 255),
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
