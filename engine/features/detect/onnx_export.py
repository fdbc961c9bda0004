"""ONNX export of a Darknet YOLO network: the raw heads, with what decoding them needs.

The graph is the network alone (batch norm folded, float32): input ``image`` float32
(N, 3, H, W), RGB in [0, 1], H x W the detector's input size (resized as the cfg says:
stretched, or letterboxed when ``letter_box=1``); one output per [yolo] head, ``head0``,
``head1``, ..., each (N, A * (5 + C), H / stride, W / stride), channels anchor-major as
``DarknetModel.forward`` documents. Decoding, thresholds and NMS stay outside the graph;
the metadata properties carry their inputs: ``class_names`` (JSON list), ``input_size``
([W, H]), ``letterbox`` (bool), ``heads`` (JSON list of {stride, anchors (A x 2, pixels
as the cfg gives them), mask, new_coords, scale_x_y}) and ``cnn_studio`` (the model name).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch

from engine.features.detect.detector import Detector, DetectorError

log = logging.getLogger(__name__)


def export_darknet_onnx(detector: Detector, path: str | os.PathLike[str], opset: int = 17) -> Path:
    """Write the network of a YOLO ``detector`` to ``path`` (atomically); returns the path.

    Raises DetectorError when the detector is not a Darknet YOLO model, when the onnx
    package is missing, or when the export fails (the message names the file).
    """
    from engine.features.detect.backends.darknet.detector import YoloDetector

    if not isinstance(detector, YoloDetector):
        raise DetectorError(f"ONNX export covers Darknet YOLO models; {detector.name} is not one")
    try:
        import onnx
    except ImportError as exc:
        raise DetectorError("ONNX export needs the onnx package: pip install onnx") from exc
    target = Path(path)
    if not target.parent.is_dir():
        raise DetectorError(f"{target}: the folder {target.parent} does not exist")
    # The inspected model, not the packed or quantised copy the detector runs: plain
    # convolutions every runtime knows, in float32 whatever precision runs here.
    network = copy.deepcopy(detector.model).float().cpu().eval().to(memory_format=torch.contiguous_format)
    width, height = detector.input_size
    heads = [f"head{i}" for i in range(len(network.heads))]
    with tempfile.TemporaryDirectory() as tmp_dir:
        raw = Path(tmp_dir) / "model.onnx"
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                # Padding decided from the fixed input size is meant to be a constant of the graph.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                torch.onnx.export(network, (torch.zeros(1, 3, height, width),), str(raw), input_names=["image"],
                                  output_names=heads, dynamic_axes={name: {0: "batch"} for name in ["image", *heads]},
                                  opset_version=opset, dynamo=False)
        except Exception as exc:  # the exporter raises many types; the user needs the file and the reason
            raise DetectorError(f"ONNX export to {target} failed: {type(exc).__name__}: {exc}") from exc
        proto = onnx.load(str(raw))
        for key, value in _metadata(detector, network).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "cnn-studio"
        tmp = target.with_name(f".tmp-{target.name}")
        try:
            onnx.save(proto, str(tmp))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    log.info("exported %s to %s", detector.name, target)
    return target


def _metadata(detector, network) -> dict[str, str]:
    heads = [{"stride": int(h.stride), "anchors": h.anchors.tolist(), "mask": list(h.mask),
              "new_coords": bool(h.new_coords), "scale_x_y": float(h.scale_x_y)} for h in network.heads]
    return {
        "class_names": json.dumps(list(detector.class_names)),
        "input_size": json.dumps(list(detector.input_size)),
        "letterbox": json.dumps(bool(detector.letterbox)),
        "heads": json.dumps(heads),
        "cnn_studio": json.dumps({"model": detector.name}),
    }
