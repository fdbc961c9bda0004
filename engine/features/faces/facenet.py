"""Loading FaceNet checkpoints (facenet-pytorch's state_dict layout) into our network.

Checkpoints are read with ``torch.load(weights_only=True)``: only tensors and plain
containers are accepted, never arbitrary pickled objects.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from engine.features.faces.inception_resnet_v1 import InceptionResnetV1

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A file that is not a usable FaceNet checkpoint; the message says why."""


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path.name} is not a PyTorch state_dict that can be loaded safely ({first[:160]}); "
            "expected a file saved with torch.save(model.state_dict())"
        ) from exc
    # Some exports wrap the weights: {"state_dict": {...}}.
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name} does not hold a state_dict (a mapping of names to tensors)")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def load_checkpoint(path: str | Path, classify: bool = False) -> InceptionResnetV1:
    """Build InceptionResnetV1 from a checkpoint, strictly (every key must match).

    The classifier layer ``logits`` is optional: when the checkpoint has it, the network
    gets one of the same size. Returns the model in eval mode on the CPU.
    Raises CheckpointError naming the missing/unexpected/mis-shaped keys.
    """
    path = Path(path)
    state = _read_state_dict(path)
    logits = state.get("logits.weight")
    model = InceptionResnetV1(num_classes=int(logits.shape[0]) if logits is not None else None, classify=classify)
    expected = model.state_dict()
    # Checkpoints written by older PyTorch have no batch-norm step counters; they carry no weights.
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items() if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} with the wrong shape (e.g. {wrong_shape[0]})")
        raise CheckpointError(
            f"{path.name} is not an Inception-ResNet-v1 FaceNet checkpoint: keys " + "; ".join(parts)
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    log.info("loaded FaceNet checkpoint %s (%d tensors)", path, len(state))
    return model
