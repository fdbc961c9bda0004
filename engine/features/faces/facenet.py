"""Loading FaceNet checkpoints (facenet-pytorch's state_dict layout) into our network.

Checkpoints are read by the safe loader ``engine.models.checkpoint``
(``torch.load(weights_only=True)`` after checking declared sizes, keys and shapes): only
tensors and plain containers are accepted, never arbitrary pickled objects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from engine.core.errors import BadFormat
from engine.features.faces.inception_resnet_v1 import EMBEDDING_DIM, InceptionResnetV1

log = logging.getLogger(__name__)


class CheckpointError(BadFormat, ValueError):
    """A file that is not a usable FaceNet checkpoint; the message says why."""


# The network without ``logits`` (the docstring of inception_resnet_v1 gives the count),
# and the largest classifier layer a checkpoint may add (VGGFace2's has 8,631 classes).
BASE_PARAMETERS = 23_482_624 + 100_000   # + BatchNorm buffers
MAX_CLASSES = 20_000


def _state_dict_of(obj: object, path: Path) -> dict[str, torch.Tensor]:
    # Some exports wrap the weights: {"state_dict": {...}}.
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name} does not hold a state_dict (a mapping of names to tensors)")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, read by the safe loader: its declared sizes are checked
    against the network's (with a classifier of at most MAX_CLASSES classes) and its keys
    and shapes against the network before any tensor is read."""
    from engine.models import checkpoint

    budget = checkpoint.budget_for_parameters(BASE_PARAMETERS + MAX_CLASSES * (EMBEDDING_DIM + 1))
    try:
        obj = checkpoint.load(path, budget_bytes=budget, check=lambda s: _check_fit(_state_dict_of(s, path), path),
                              what="FaceNet checkpoint")
    except checkpoint.CheckpointError as exc:
        raise CheckpointError(str(exc)) from None
    return _state_dict_of(obj, path)


def _model_for(state: Mapping[str, torch.Tensor], classify: bool = False) -> InceptionResnetV1:
    logits = state.get("logits.weight")
    if logits is not None and (logits.ndim != 2 or not 0 < logits.shape[0] <= MAX_CLASSES):
        raise CheckpointError(f"its classifier layer logits.weight has shape {tuple(logits.shape)}; "
                              f"at most {MAX_CLASSES} classes of {EMBEDDING_DIM} inputs are expected")
    return InceptionResnetV1(num_classes=int(logits.shape[0]) if logits is not None else None, classify=classify)


def _check_fit(state: dict[str, torch.Tensor], path: Path) -> None:
    """CheckpointError naming the missing/unexpected/mis-shaped keys (on the meta device: no memory)."""
    try:
        with torch.device("meta"):
            expected = _model_for(state).state_dict()
    except CheckpointError as exc:
        raise CheckpointError(f"{path.name}: {exc}") from None
    _compare(state, expected, path)


def _compare(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path) -> None:
    # Checkpoints written by older PyTorch have no batch-norm step counters; they carry no weights.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
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


def load_checkpoint(path: str | Path, classify: bool = False) -> InceptionResnetV1:
    """Build InceptionResnetV1 from a checkpoint, strictly (every key must match).

    The classifier layer ``logits`` is optional: when the checkpoint has it, the network
    gets one of the same size. Returns the model in eval mode on the CPU.
    Raises CheckpointError naming the missing/unexpected/mis-shaped keys.
    """
    path = Path(path)
    state = _read_state_dict(path)
    model = _model_for(state, classify)
    expected = model.state_dict()
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    _compare(state, expected, path)
    model.load_state_dict(state, strict=True)
    model.eval()
    log.info("loaded FaceNet checkpoint %s (%d tensors)", path, len(state))
    return model
