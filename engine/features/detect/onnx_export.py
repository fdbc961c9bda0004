"""ONNX export of a detector's network: the graph any runtime can load, with what
decoding its outputs needs as metadata.

Any detector whose ``model`` attribute is an ``nn.Module`` taking a float (N, 3, H, W)
tensor exports: the graph is that module alone, float32 (whatever precision runs here),
input ``image`` float32 (N, 3, H, W) preprocessed as the detector's ``transforms`` say
(the ``transforms`` metadata), H x W the size asked for or the detector's input size.
Outputs are the module's tensors in order (nested lists, tuples and dicts flattened):
named by their dict keys, else ``output0``, ``output1``, ... Decoding, thresholds and
NMS stay outside the graph. Metadata properties: ``class_names`` (JSON list),
``input_size`` ([W, H]), ``transforms`` (JSON object: resize, colour, scale, mean, std,
fill) and ``cnn_studio`` (the model name).

Darknet YOLO networks keep their own names and metadata: one output per [yolo] head,
``head0``, ``head1``, ..., each (N, A * (5 + C), H / stride, W / stride), channels
anchor-major as ``DarknetModel.forward`` documents, RGB in [0, 1] input, resized as the
cfg says; plus ``letterbox`` (bool) and ``heads`` (JSON list of {stride, anchors (A x 2,
pixels as the cfg gives them), mask, new_coords, scale_x_y}).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from engine.features.detect.detector import DetectorError

if TYPE_CHECKING:
    from engine.features.detect.detector import Detector

log = logging.getLogger(__name__)


class _Flat(nn.Module):
    """The wrapped network with its outputs flattened to a tuple of tensors (the order of
    ``_tensors``), so every exporter sees plain outputs."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t for _, t in _tensors(self.network(image)))


def _tensors(value: Any, name: str = "") -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of every tensor in ``value``, depth first: dict keys name them
    (nested keys joined by "."), positions stay unnamed (""). Objects with ``to_tuple``
    (transformers' outputs) count as dicts when they have ``items``."""
    if isinstance(value, torch.Tensor):
        return [(name, value)]
    if isinstance(value, dict) or (hasattr(value, "items") and hasattr(value, "to_tuple")):
        found = []
        for key, item in value.items():
            found += _tensors(item, f"{name}.{key}" if name else str(key))
        return found
    if isinstance(value, (list, tuple)):
        found = []
        for item in value:
            found += _tensors(item, name)
        return found
    return []


def _is_darknet(network: nn.Module) -> bool:
    from engine.features.detect.backends.darknet.model import DarknetModel

    return isinstance(network, DarknetModel)


def export_onnx(detector: "Detector", path: str | os.PathLike[str], size: tuple[int, int] | None = None,
                opset: int = 17) -> Path:
    """Write the network of ``detector`` to ``path`` (atomically); returns the path.

    size: the graph's input (width, height) in pixels (None: the detector's input size).
    Raises DetectorError when the detector has no such network, has no input size and
    none is given, when the onnx package is missing, or when the export fails (the message
    names the file).
    """
    # float_model: the float32 weights as loaded, even when bf16 or fp16 runs here.
    network = getattr(detector, "float_model", None)
    if network is None:
        network = getattr(detector, "model", None)
    if not isinstance(network, nn.Module):
        raise DetectorError(f"ONNX export needs a detector whose network is a torch module taking (N, 3, H, W) "
                            f"images; {detector.name} has none")
    width, height = size or detector.input_size or (0, 0)
    if width <= 0 or height <= 0:
        raise DetectorError(f"{detector.name} resizes frames itself: give the export an input size (e.g. 640x640)")
    try:
        import onnx
    except ImportError as exc:
        raise DetectorError("ONNX export needs the onnx package: pip install onnx") from exc
    target = Path(path)
    if not target.parent.is_dir():
        raise DetectorError(f"{target}: the folder {target.parent} does not exist")
    # The inspected model, not the packed or quantised copy the detector runs: plain
    # operators every runtime knows, in float32 whatever precision runs here.
    network = copy.deepcopy(network).float().cpu().eval().to(memory_format=torch.contiguous_format)
    darknet = _is_darknet(network)
    example = torch.zeros(1, 3, height, width)
    try:
        with torch.no_grad():
            found = _tensors(network(example))
    except Exception as exc:  # a network that cannot take this input: the user needs the reason
        raise DetectorError(f"{detector.name} cannot run at {width}x{height} for the export: "
                            f"{type(exc).__name__}: {exc}") from exc
    if not found:
        raise DetectorError(f"{detector.name}'s network returns no tensors; it cannot be exported to ONNX")
    if darknet:
        outputs = [f"head{i}" for i in range(len(found))]
    else:
        named = [n for n, _ in found]
        outputs = named if all(named) and len(set(named)) == len(named) else [f"output{i}" for i in range(len(found))]
    with tempfile.TemporaryDirectory() as tmp_dir:
        raw = Path(tmp_dir) / "model.onnx"
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                # Padding decided from the fixed input size is meant to be a constant of the graph.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                torch.onnx.export(_Flat(network), (example,), str(raw), input_names=["image"],
                                  output_names=outputs, dynamic_axes={name: {0: "batch"} for name in ["image", *outputs]},
                                  opset_version=opset, dynamo=False)
        except Exception as exc:  # the exporter raises many types; the user needs the file and the reason
            raise DetectorError(f"ONNX export to {target} failed: {type(exc).__name__}: {exc}") from exc
        proto = onnx.load(str(raw))
        metadata = _metadata(detector, (width, height))
        if darknet:
            metadata.update(_darknet_metadata(detector, network))
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "cnn-studio"
        tmp = target.with_name(f".tmp-{target.name}")
        try:
            onnx.save(proto, str(tmp))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    log.info("exported %s to %s at %dx%d", detector.name, target, width, height)
    return target


def export_darknet_onnx(detector: "Detector", path: str | os.PathLike[str], opset: int = 17) -> Path:
    """``export_onnx`` for Darknet YOLO detectors only (DetectorError for any other)."""
    if not _is_darknet(getattr(detector, "model", None)):
        raise DetectorError(f"ONNX export covers Darknet YOLO models; {detector.name} is not one")
    return export_onnx(detector, path, opset=opset)


def _metadata(detector: "Detector", size: tuple[int, int]) -> dict[str, str]:
    transforms = getattr(detector, "transforms", None)
    described = {k: v for k, v in asdict(transforms).items() if k != "size"} if transforms is not None else {}
    return {
        "class_names": json.dumps(list(detector.class_names)),
        "input_size": json.dumps(list(size)),
        "transforms": json.dumps(described),
        "cnn_studio": json.dumps({"model": detector.name}),
    }


def _darknet_metadata(detector: "Detector", network: nn.Module) -> dict[str, str]:
    heads = [{"stride": int(h.stride), "anchors": h.anchors.tolist(), "mask": list(h.mask),
              "new_coords": bool(h.new_coords), "scale_x_y": float(h.scale_x_y)} for h in network.heads]
    return {"letterbox": json.dumps(bool(getattr(detector, "letterbox", False))), "heads": json.dumps(heads)}
