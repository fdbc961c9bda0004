"""The Detect tab's networks as the Feature maps tab opens them (``Feature.inspectables``)."""

from __future__ import annotations

from engine.core.paths import resources_dir
from engine.features.detect.backends.darknet.capabilities import DARKNET_TRANSFORMS
from engine.models.inspectable import ModelSpec

_REFERENCE_CFG_DIRS = (
    resources_dir() / "darknet",
    resources_dir().parents[1] / "shared" / "reference" / "darknet",
)


def yolov3_tiny_spec() -> ModelSpec | None:
    """YOLOv3-tiny built from its Darknet cfg (random weights), or None without the cfg file."""
    from engine.features.detect.backends.darknet.cfg import parse_cfg
    from engine.features.detect.backends.darknet.model import DarknetModel

    cfg_path = next((d / "yolov3-tiny.cfg" for d in _REFERENCE_CFG_DIRS if (d / "yolov3-tiny.cfg").is_file()), None)
    if cfg_path is None:
        return None
    # Darknet feeds RGB in [0, 1]: mean 0 and std 1 leave the scaled pixels as they are.
    return ModelSpec(
        name="yolov3_tiny",
        title="YOLOv3-tiny",
        build=lambda: DarknetModel(parse_cfg(cfg_path)),
        transforms=DARKNET_TRANSFORMS,
        categories=(),
    )
