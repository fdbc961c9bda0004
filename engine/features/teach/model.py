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


def load_model_dir(folder: str | os.PathLike[str]) -> TrainedModel:
    """The classifier saved in ``folder`` (CPU, eval); ModelDirError explains what is wrong."""
    folder = Path(folder)
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise ModelDirError(f"{folder} is not a Teach model folder (no model.json): train one with `python main.py teach train`")
    try:
        info = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{meta_path} cannot be read ({exc}): train the model again") from exc
    if not isinstance(info, dict) or info.get("format") != MODEL_FORMAT:
        raise ModelDirError(f"{folder} is not a Teach model folder ({meta_path.name} has another format)")
    version = info.get("version")
    if version != MODEL_VERSION:
        raise ModelDirError(f"{folder} was written by another version of CNN Studio (model version {version}, "
                            f"this one reads {MODEL_VERSION}): train it again from its project or folder")
    labels = info.get("labels")
    head = info.get("head", {})
    if not isinstance(labels, list) or len(labels) < 2 or not isinstance(head, dict):
        raise ModelDirError(f"{meta_path} lists no labels: train the model again")
    try:
        blocks = info.get("backbone_blocks")
        classifier = build_classifier(info["backbone"], len(labels), head.get("kind", "linear"), int(head.get("hidden", 128)),
                                      int(blocks) if blocks is not None else None)
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        classifier.load_state_dict(state)
    except FileNotFoundError as exc:
        raise ModelDirError(f"{folder / 'weights.pt'} is missing: train the model again") from exc
    except Exception as exc:  # a damaged or mismatched weights file comes in many types
        raise ModelDirError(f"{folder / 'weights.pt'} does not fit {meta_path.name} ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:160]}): train the model again") from exc
    broken = next((k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if broken is not None:  # it would score every image NaN
        raise ModelDirError(f"{folder / 'weights.pt'}: '{broken}' holds values that are not finite numbers (NaN or "
                            "infinity); the model is broken: train it again")
    classifier.eval()
    return TrainedModel(classifier, [str(x) for x in labels], info)


