"""The trained classifier and its model folder.

``Classifier``: input float32 (N, 3, S, S), RGB in [0, 1] (``engine.features.teach.imaging.to_batch``);
output float32 (N, C) class probabilities (softmax), C = len(labels). It holds the
ImageNet normalisation, the backbone's feature network and the head, so one module is
what runs live, what the CLI predicts with and what is exported.

A model folder holds ``model.json`` (format, version, labels, backbone, preprocessing,
validation accuracy), ``weights.pt`` (the classifier's state_dict, loaded with
``weights_only=True``) and ``labels.txt`` (one label a line, index order).
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.core.errors import UserError
from engine.features.teach import atomic
from engine.features.teach.backbones import FeatureNet, _blocks_of, _torchvision_model, backbone_spec
from engine.features.teach.catalog import TEACH_TRANSFORMS
from engine.features.teach.imaging import INPUT_SIZE

log = logging.getLogger(__name__)

MODEL_FORMAT = "cnn-studio-teach-model"
MODEL_VERSION = 1

# Bounds of model.json's values (a hostile or damaged file must not size an allocation).
MAX_MODEL_JSON_BYTES = 1024 * 1024      # a real model.json is a few KB (labels included)
MIN_INPUT_SIZE = 32                     # the backbones need a few pixels after five stride-2 stages
MAX_INPUT_SIZE = 1024                   # the trained size is 224; 1024 costs ~12 MB per image
MAX_LABELS = 1000
MAX_LABEL_CHARS = 200
MAX_HIDDEN_UNITS = 4096
MAX_BACKBONE_BLOCKS = 64


class ModelDirError(UserError, ValueError):
    """A model folder that is missing, damaged or from another version; the message says what to do."""


class Head(nn.Module):
    """Standardise the embedding with the training set's statistics, then linear or a small MLP."""

    def __init__(self, dim: int, classes: int, kind: str = "linear", hidden: int = 128) -> None:
        super().__init__()
        self.kind = kind
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        if kind == "mlp":
            self.layers = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, classes))
        else:
            self.layers = nn.Sequential(nn.Linear(dim, classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers((features - self.mean) / self.std)


class Classifier(nn.Module):
    """normalise -> backbone features -> head -> softmax: (N, 3, S, S) [0, 1] RGB -> (N, C) probabilities."""

    def __init__(self, net: FeatureNet, head: Head) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(TEACH_TRANSFORMS.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(TEACH_TRANSFORMS.std).view(1, 3, 1, 1))
        self.net = net
        self.head = head

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net((x - self.mean) / self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


@dataclass
class TrainedModel:
    """A classifier with what describes it; ``info`` is model.json's content."""

    classifier: Classifier
    labels: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        return int(self.info.get("preprocessing", {}).get("size", INPUT_SIZE))


def preprocessing_info(size: int = INPUT_SIZE) -> dict[str, Any]:
    """The preprocessing an exported model expects, as written into its metadata."""
    return {
        "input": f"float32 NCHW (N, 3, {size}, {size}), RGB, values in [0, 1]",
        "resize": "crop: the largest centred square of the image, resized to size x size",
        "size": size,
        "colour": "RGB",
        "scale": 1.0 / 255.0,
        "normalisation": {"mean": list(TEACH_TRANSFORMS.mean), "std": list(TEACH_TRANSFORMS.std),
                          "applied": "inside the model"},
        "output": "float32 (N, C) class probabilities (softmax), index order of labels",
    }


def save_model_dir(model: TrainedModel, folder: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``folder`` (each file atomically; model.json last, so a half-written folder never reads as valid)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.classifier.state_dict().items()}, buffer)
    atomic.write_bytes(folder / "weights.pt", buffer.getvalue())
    atomic.write_bytes(folder / "labels.txt", ("\n".join(model.labels) + "\n").encode("utf-8"))
    info = {**model.info, "format": MODEL_FORMAT, "version": MODEL_VERSION, "labels": list(model.labels)}
    info.setdefault("preprocessing", preprocessing_info())
    atomic.write_json(folder / "model.json", info)
    return folder


def build_classifier(backbone: str, labels: int, head_kind: str = "linear", hidden: int = 128,
                     blocks: int | None = None) -> Classifier:
    """An empty classifier of the right shape (weights are loaded afterwards); blocks: how many backbone blocks it keeps."""
    spec = backbone_spec(backbone)
    net = FeatureNet(_blocks_of(spec.arch, _torchvision_model(spec.arch)), keep=blocks)
    return Classifier(net, Head(net.output_dim(), labels, head_kind, hidden))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _reject(meta_path: Path, what: str) -> ModelDirError:
    return ModelDirError(f"{meta_path}: {what}; train the model again (or restore model.json from a backup)")


def _bounded_int(meta_path: Path, value: Any, field_name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _reject(meta_path, f"{field_name} is {json.dumps(value)[:60]}, expected a whole number from {low} to {high}")
    return value


def read_model_info(meta_path: str | os.PathLike[str]) -> dict[str, Any]:
    """model.json checked against its schema: every value a loader computes with is of the
    right type and within bounds (``preprocessing.size`` in MIN_INPUT_SIZE..MAX_INPUT_SIZE,
    2..MAX_LABELS labels, a known backbone and head). ModelDirError names the file and the
    field; the file is opened only if it is a regular file of at most MAX_MODEL_JSON_BYTES."""
    from engine.core.regular_files import RegularFileError, read_regular_text
    from engine.features.teach.backbone_specs import BACKBONES

    meta_path = Path(meta_path)
    try:
        text = read_regular_text(meta_path, MAX_MODEL_JSON_BYTES, what="model file",
                                 hint="a Teach model.json is a few kilobytes; train the model again")
        info = json.loads(text, parse_constant=_refuse_constant)
    except RegularFileError as exc:
        raise ModelDirError(str(exc)) from None
    except RecursionError:
        raise _reject(meta_path, "it is nested too deeply to be a model description") from None
    except ValueError as exc:  # json.JSONDecodeError and the refused constants
        raise _reject(meta_path, f"not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != MODEL_FORMAT:
        raise ModelDirError(f"{meta_path.parent} is not a Teach model folder ({meta_path} has another format)")
    version = info.get("version")
    if version != MODEL_VERSION:
        raise ModelDirError(f"{meta_path.parent} was written by another version of CNN Studio (model version "
                            f"{json.dumps(version)[:20]}, this one reads {MODEL_VERSION}): train it again from its project or folder")
    labels = info.get("labels")
    if not isinstance(labels, list) or not 2 <= len(labels) <= MAX_LABELS:
        raise _reject(meta_path, f"labels must be a list of 2 to {MAX_LABELS} class names")
    if not all(isinstance(label, str) and 0 < len(label) <= MAX_LABEL_CHARS for label in labels):
        raise _reject(meta_path, f"every label must be a text of 1 to {MAX_LABEL_CHARS} characters")
    if info.get("backbone") not in BACKBONES:
        raise _reject(meta_path, f"backbone {json.dumps(info.get('backbone'))[:60]} is not one of {', '.join(BACKBONES)}")
    blocks = info.get("backbone_blocks")
    if blocks is not None:
        _bounded_int(meta_path, blocks, "backbone_blocks", 1, MAX_BACKBONE_BLOCKS)
    head = info.get("head", {})
    if not isinstance(head, dict) or head.get("kind", "linear") not in ("linear", "mlp"):
        raise _reject(meta_path, "head must be {\"kind\": \"linear\" or \"mlp\", \"hidden\": N}")
    _bounded_int(meta_path, head.get("hidden", 128), "head.hidden", 1, MAX_HIDDEN_UNITS)
    preprocessing = info.get("preprocessing", {})
    if not isinstance(preprocessing, dict):
        raise _reject(meta_path, "preprocessing must be an object")
    _bounded_int(meta_path, preprocessing.get("size", INPUT_SIZE), "preprocessing.size", MIN_INPUT_SIZE, MAX_INPUT_SIZE)
    return info


def model_folder(folder: str | os.PathLike[str]) -> Path:
    """The model folder that ``folder`` names: a model folder itself (with model.json), or a
    Teach project folder (with project.json; the app keeps its trained model in ``model/``
    inside it). ModelDirError says what to do when it is neither, or the project has no
    trained model yet."""
    folder = Path(folder)
    if (folder / "model.json").exists() or (folder / "model.json").is_symlink():
        return folder
    if (folder / "project.json").is_file():
        inner = folder / "model"
        if (inner / "model.json").exists() or (inner / "model.json").is_symlink():
            return inner
        raise ModelDirError(f"the Teach project {folder} has no trained model yet",
                            "train it first (Train in the Teach tab, or `teach train`)")
    raise ModelDirError(f"{folder} is neither a Teach model folder (no model.json) nor a Teach project (no project.json)",
                        "give a project folder or a model folder made by `teach train`")


def load_model_dir(folder: str | os.PathLike[str]) -> TrainedModel:
    """The classifier saved in ``folder`` (CPU, eval), a model folder or a Teach project folder
    (``model_folder``); ModelDirError explains what is wrong.

    model.json is validated first (``read_model_info``); weights.pt is read by the safe
    loader (``engine.models.checkpoint``) with a budget from the classifier's parameter
    count, its keys and shapes compared with the classifier before any tensor is read.
    """
    from engine.models import checkpoint

    folder = model_folder(folder)
    meta_path = folder / "model.json"
    info = read_model_info(meta_path)
    labels = info["labels"]
    head = info.get("head", {})
    blocks = info.get("backbone_blocks")
    classifier = build_classifier(info["backbone"], len(labels), head.get("kind", "linear"), head.get("hidden", 128), blocks)
    weights = folder / "weights.pt"
    expected = {k: tuple(v.shape) for k, v in classifier.state_dict().items()}

    def fits(state: Any) -> None:
        problem = checkpoint.first_mismatch(expected, state)
        if problem is not None:
            raise ModelDirError(f"{weights} does not fit {meta_path.name} ({problem}): train the model again")

    try:
        state = checkpoint.load(weights, budget_bytes=checkpoint.budget_for(classifier), check=fits, what="weights file")
    except checkpoint.CheckpointError as exc:
        if not weights.exists() and not weights.is_symlink():
            raise ModelDirError(f"{weights} is missing: train the model again") from None
        raise ModelDirError(f"{exc}: train the model again") from None
    fits(state)
    broken = next((k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if broken is not None:  # it would score every image NaN
        raise ModelDirError(f"{weights}: '{broken}' holds values that are not finite numbers (NaN or "
                            "infinity); the model is broken: train it again")
    classifier.load_state_dict(state)
    classifier.eval()
    return TrainedModel(classifier, list(labels), info)
