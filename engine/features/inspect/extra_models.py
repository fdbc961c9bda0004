"""Models of the other tabs, made inspectable without depending on their internals.

Each adapter imports its feature package lazily and returns None when that package (or
what it needs) is absent, so the Feature maps tab lists exactly what this installation
can build. Adapters build the architecture with random weights; trained weights come
from a state-dict file the user names.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable
from engine.core.paths import resources_dir

log = logging.getLogger(__name__)

_REFERENCE_CFG_DIRS = (
    resources_dir() / "darknet",
    resources_dir().parents[1] / "shared" / "reference" / "darknet",
)


def _yolo_spec():
    from engine.features.detect.backends.darknet.cfg import parse_cfg
    from engine.features.detect.backends.darknet.model import DarknetModel
    from engine.features.inspect.zoo import ModelSpec, Preprocessing

    cfg_path = next((d / "yolov3-tiny.cfg" for d in _REFERENCE_CFG_DIRS if (d / "yolov3-tiny.cfg").is_file()), None)
    if cfg_path is None:
        return None
    names_path = cfg_path.with_name("coco.names")
    names = tuple(n.strip() for n in names_path.read_text().splitlines() if n.strip()) if names_path.is_file() else ()
    # Darknet feeds RGB in [0, 1]: mean 0 and std 1 leave the scaled pixels as they are.
    return ModelSpec(
        name="yolov3_tiny",
        title="YOLOv3-tiny (Detect tab)",
        build=lambda: DarknetModel(parse_cfg(cfg_path)),
        preprocessing=Preprocessing(input_size=416, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        categories=(),
        family="detect",
    )


def _facenet_spec():
    from engine.features.faces.inception_resnet_v1 import InceptionResnetV1
    from engine.features.inspect.zoo import ModelSpec, Preprocessing

    # FaceNet standardises pixels as (x - 127.5) / 128, i.e. mean 0.5 and std ~0.502 on [0, 1].
    return ModelSpec(
        name="facenet",
        title="FaceNet Inception-ResNet v1 (Faces tab)",
        build=lambda: InceptionResnetV1(num_classes=None),
        preprocessing=Preprocessing(input_size=160, mean=(0.5, 0.5, 0.5), std=(128 / 255,) * 3),
        categories=(),
        family="faces",
    )


#: Adapters in the order the picker lists them. Each returns a ModelSpec or None.
ADAPTERS: list[Callable[[], object]] = [_yolo_spec, _facenet_spec]


def extra_specs() -> list:
    """ModelSpecs of the other tabs' models that can be built here; absent ones are skipped."""
    specs = []
    for adapter in ADAPTERS:
        try:
            spec = adapter()
        except ImportError as exc:
            log.debug("%s skipped: %s", adapter.__name__, exc)
            continue
        except Exception:  # a half-written feature package must not break the zoo
            log.warning("inspectable model adapter %s failed", adapter.__name__, exc_info=True)
            continue
        if spec is not None:
            specs.append(spec)
    return specs
