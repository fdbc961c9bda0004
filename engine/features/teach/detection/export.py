"""Export a trained detector to ONNX, its class names in the model's metadata.

The graph is the network with batch norm folded: input ``images`` float32 (N, 3, S, S),
BGR, 0..255, the picture letterboxed at the top-left of a grey (114) canvas (S: the
trained input size; any multiple of 32 works); output ``output`` (N, A, 5 + C): per grid
point tx, ty, tw, th, objectness and C class probabilities (Megvii's ONNX layout:
decoding, thresholds and NMS stay outside the graph; see ``engine.models.yolox.grid``).
Metadata properties: ``class_names`` (JSON list, index = class id), ``model_type``
("yolox"), ``architecture``, ``input_size`` (JSON [W, H]), ``strides`` (JSON list),
``preprocessing`` (JSON object) and ``cnn_studio`` (the training record, JSON).
A ``classes.txt`` is written beside the exported file.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path

import torch

from engine.core.errors import UserError
from engine.core.safe_files import atomic_path, atomic_write_text, json_text
from engine.features.teach.detection.trained import TrainedDetector
from engine.models.yolox.model import STRIDES

CLASSES_NAME = "classes.txt"


class DetectorExportError(UserError, RuntimeError):
    """An export failed; the message names the file and the reason."""


def metadata(detector: TrainedDetector) -> dict[str, str]:
    size = [detector.input_size, detector.input_size]
    return {
        "class_names": json_text(list(detector.classes)), "model_type": "yolox", "architecture": detector.arch,
        "input_size": json_text(size), "strides": json_text(list(STRIDES)),
        "preprocessing": json_text({"colour": "BGR", "scale": "0..255", "resize": "letterbox", "align": "top-left",
                                    "fill": 114, "size": size}),
        "cnn_studio": json_text(detector.info),
    }


def export_detector_onnx(detector: TrainedDetector, path: str | os.PathLike[str], opset: int = 17) -> Path:
    """Write the ONNX model to ``path`` (+ classes.txt beside it); returns the path."""
    try:
        import onnx
    except ImportError as exc:
        raise DetectorExportError("ONNX export needs the onnx package: pip install onnx") from exc
    target = Path(path)
    if target.name == CLASSES_NAME:
        raise DetectorExportError(f"{target}: {CLASSES_NAME} is written beside the exported model; give the model "
                                  "another name (e.g. detector.onnx)")
    target.parent.mkdir(parents=True, exist_ok=True)
    network = copy.deepcopy(detector.model).cpu().float().eval().fuse()
    size = detector.input_size
    with tempfile.TemporaryDirectory() as tmp_dir:
        raw = Path(tmp_dir) / "model.onnx"
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(network, (torch.rand(1, 3, size, size) * 255,), str(raw), input_names=["images"],
                                  output_names=["output"],
                                  dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"},
                                                "output": {0: "batch", 1: "points"}},
                                  opset_version=opset, dynamo=False)
        except Exception as exc:
            raise DetectorExportError(f"ONNX export to {target} failed: {type(exc).__name__}: {exc}") from exc
        proto = onnx.load(str(raw))
        for key, value in metadata(detector).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "cnn-studio"
        with atomic_path(target) as tmp:
            onnx.save(proto, str(tmp))
    atomic_write_text(target.with_name(CLASSES_NAME), "".join(f"{c}\n" for c in detector.classes))
    return target
