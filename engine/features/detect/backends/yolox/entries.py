"""Catalog entries of Megvii's released YOLOX models (COCO, Apache-2.0).

Each entry's file is the ``.pth`` of the 0.1.1rc0 release; ``models import yolox-s FILE``
installs one after the validator has loaded it into the architecture (keys and shapes,
read with ``weights_only=True``). Byte sizes and SHA-256 digests are those of the released
files (a byte-identical mirror publishes them in its Git LFS pointers, and the digests
are the ones other projects pin for the release URLs): a download or import of anything
else is refused unless forced (``models import --force``: a fine-tune of your own). The
files are about twice the weights alone because they keep the optimiser state too.
Numbers in ``meta["accuracy"]`` are Megvii's (COCO val2017 AP 0.5:0.95 at the test size).
"""

from __future__ import annotations

from pathlib import Path

from engine.features.detect.backends.yolox.capabilities import yolox_capabilities, yolox_transforms
from engine.features.detect.names import bundled_path, read_names
from engine.models.catalog import CatalogEntry, ModelFile

_COCO80 = read_names(bundled_path("coco.names"), expected=80)
_LICENSE = "Apache-2.0 (Megvii-BaseDetection/YOLOX); trained on COCO 2017"
_SOURCE = "https://github.com/Megvii-BaseDetection/YOLOX"
_URL = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/{}.pth"


def _build(entry: CatalogEntry, cache=None, device=None, options=None):
    from engine.features.detect.backends.yolox.loading import yolox_from_pth
    from engine.features.detect.options import DetectorOptions
    from engine.models.cache import default_cache
    from engine.models.yolox.model import ARCHITECTURES

    options = options or DetectorOptions()
    options.check(entry.capabilities, entry.name)
    weights = (cache or default_cache()).require(entry)
    return yolox_from_pth(weights, options=options, device=device, name=entry.name,
                          arch=ARCHITECTURES[entry.meta["architecture"]])


def _validator(architecture: str):
    def validate(path: Path) -> None:
        # ``path`` may be a temporary name (the cache validates before renaming). Refuses a
        # pickle, another architecture or wrong shapes, naming the first mismatching key.
        from engine.features.detect.backends.yolox.loading import load_yolox_state
        from engine.features.detect.detector import DetectorError
        from engine.models.yolox.model import ARCHITECTURES

        model, _ = load_yolox_state(path, ARCHITECTURES[architecture])
        if model.num_classes != len(_COCO80):
            raise DetectorError(f"{path} predicts {model.num_classes} classes, not COCO's 80: it is not the released "
                             f"YOLOX-{architecture}; open it with detect --model-dir and its names file instead")
    return validate


def _yolox(architecture: str, title: str, size: int, ap: float, params_m: float, gflops: float,
           file_bytes: int, sha256: str, description: str) -> CatalogEntry:
    filename = f"yolox_{architecture}"
    # (Nano is the only released size with depthwise convolutions, model.ARCHITECTURES;
    # not imported here, the catalog loads without torch)
    return CatalogEntry(
        name=f"yolox-{architecture}", task="detect", title=title,
        files=(ModelFile(f"{filename}.pth", _URL.format(filename), size=file_bytes, sha256=sha256),),
        license=_LICENSE, source=_SOURCE, description=description,
        transforms=yolox_transforms((size, size)), capabilities=yolox_capabilities((size, size), depthwise=architecture == "nano"),
        meta={"categories": _COCO80, "architecture": architecture, "accuracy": {"COCO val2017 AP": ap},
              "num_params": int(params_m * 1e6), "gflops": gflops},
        builder=_build, validator=_validator(architecture),
    )


ENTRIES: list[CatalogEntry] = [
    _yolox("nano", "YOLOX-Nano (Megvii, COCO)", 416, 25.8, 0.91, 1.08,
           7_694_953, "cd28f55fbbc1829f99d9ac9b38a16d259a22889739c8728ea877610201feff7b",
           "Anchor-free YOLO with depthwise convolutions: 0.9M parameters, the lightest real-time detector here."),
    _yolox("tiny", "YOLOX-Tiny (Megvii, COCO)", 416, 32.8, 5.06, 6.45,
           40_755_013, "9de513de589ac98bb92d3bca53b5af7b9acfa9b0bacb831f7999d0f7afaee8f0",
           "Anchor-free YOLO at YOLOv4-tiny's cost with about 10 more COCO AP."),
    _yolox("s", "YOLOX-S (Megvii, COCO)", 640, 40.5, 9.0, 26.8,
           72_089_125, "f55ded7181e1b0c13285c56e7790b8f0e8f8db590fe4edb37f0b7f345c913a30",
           "Anchor-free YOLO, decoupled head: accurate, a few frames a second on a laptop CPU."),
]
