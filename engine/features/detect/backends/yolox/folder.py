"""A YOLOX model folder (config.json ``model_type: "yolox"`` + model.safetensors, as Teach
saves a trained detector; format in ``engine.models.yolox.folder``) as a ``Detector``.

``yolox_from_folder`` is the "yolox" entry of ``model_dir.FOLDER_LOADERS``; the input size
defaults to the one the model was trained at (config ``input_size``) and may be changed
in multiples of 32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.features.detect.backends.yolox.capabilities import yolox_capabilities
from engine.features.detect.backends.yolox.detector import YoloxDetector
from engine.features.detect.options import DetectorOptions
from engine.models.yolox import folder as yolox_folder


def yolox_from_folder(folder: str | Path, config: dict[str, Any], state: dict[str, torch.Tensor], *,
                      options: DetectorOptions | None = None, device: torch.device | str | None = None,
                      name: str | None = None) -> YoloxDetector:
    """A ready ``YoloxDetector`` from a folder's parsed config and its tensors; raises
    ``YoloxFolderError`` naming the first thing that does not fit."""
    folder = Path(folder)
    spec = yolox_folder.parse_config(config, str(folder / yolox_folder.CONFIG_NAME))
    model = yolox_folder.model_from_state(spec, state, folder / yolox_folder.WEIGHTS_NAME)
    options = options or DetectorOptions()
    label = name or folder.name
    options.check(yolox_capabilities(spec.input_size), label)
    keywords: dict[str, Any] = {"conf_threshold": options.conf_threshold}
    if options.iou_threshold is not None:
        keywords["iou_threshold"] = options.iou_threshold
    return YoloxDetector(model, spec.classes, name=label, input_size=options.input_size or spec.input_size,
                         letterbox=options.letterbox, channels_last=options.channels_last, compile=options.compile,
                         device=device, **keywords)
