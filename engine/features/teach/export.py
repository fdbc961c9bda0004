"""Export a trained classifier: TorchScript or ONNX, with labels and preprocessing in the metadata.

Both take the batch of ``engine.features.teach.imaging.to_batch`` — float32 (N, 3, S, S), RGB,
[0, 1] — and return (N, C) class probabilities; the ImageNet normalisation is inside.
ONNX: the metadata properties ``labels`` (JSON list) and ``preprocessing`` (JSON object)
are set; TorchScript: the archive holds ``extra/model.json`` (model.json's content).
A ``labels.txt`` is written beside the exported file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch

from engine.features.teach.model import TrainedModel, preprocessing_info

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")


class ExportError(RuntimeError):
    """An export failed; the message names the file and the reason."""


def _metadata(model: TrainedModel) -> dict:
    return {**model.info, "labels": list(model.labels), "preprocessing": model.info.get("preprocessing", preprocessing_info())}


def _write_labels(model: TrainedModel, target: Path) -> Path:
    labels = target.with_name("labels.txt")
    labels.write_text("\n".join(model.labels) + "\n", encoding="utf-8")
    return labels


def export_torchscript(model: TrainedModel, path: str | os.PathLike[str]) -> Path:
    """A traced TorchScript module at ``path`` (+ labels.txt beside it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    size = model.input_size
    classifier = model.classifier.cpu().eval()
    # TorchScript is deprecated in favour of torch.export, but it is still what C++/mobile runtimes load.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(classifier, torch.rand(2, 3, size, size), check_trace=False)
        tmp = target.with_name(f".tmp-{target.name}")
        torch.jit.save(traced, str(tmp), _extra_files={"model.json": json.dumps(_metadata(model))})
    os.replace(tmp, target)
    _write_labels(model, target)
    return target


def export_onnx(model: TrainedModel, path: str | os.PathLike[str], opset: int = 17) -> Path:
    """An ONNX model at ``path`` with a dynamic batch axis (+ labels.txt beside it)."""
    try:
        import onnx
    except ImportError as exc:
        raise ExportError("ONNX export needs the onnx package: pip install onnx onnxscript") from exc
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    size = model.input_size
    classifier = model.classifier.cpu().eval()
    with tempfile.TemporaryDirectory() as tmp_dir:
        raw = Path(tmp_dir) / "model.onnx"
        try:
            # The TorchScript-based exporter: it needs no extra packages beyond onnx and keeps
            # the graph plain (Conv, HardSwish, ...) for every runtime.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(classifier, (torch.rand(1, 3, size, size),), str(raw), input_names=["image"],
                                  output_names=["probabilities"], dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
                                  opset_version=opset, dynamo=False)
        except Exception as exc:
            raise ExportError(f"ONNX export to {target} failed: {type(exc).__name__}: {exc}") from exc
        proto = onnx.load(str(raw))
        meta = _metadata(model)
        for key, value in (("labels", json.dumps(meta["labels"])), ("preprocessing", json.dumps(meta["preprocessing"])),
                           ("cnn_studio", json.dumps(meta))):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "cnn-studio"
        tmp = target.with_name(f".tmp-{target.name}")
        onnx.save(proto, str(tmp))
        os.replace(tmp, target)
    _write_labels(model, target)
    return target


def export(model: TrainedModel, fmt: str, path: str | os.PathLike[str]) -> Path:
    if fmt == "onnx":
        return export_onnx(model, path)
    if fmt == "torchscript":
        return export_torchscript(model, path)
    raise ExportError(f"unknown export format '{fmt}': choose one of {', '.join(FORMATS)}")
