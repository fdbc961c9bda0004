"""The detector model folder: what Teach writes and Detect opens (``detect --model-dir``,
``my-<name>``)::

    FOLDER/config.json        {"model_type": "yolox", "architecture": "nano", "num_labels": C,
                               "id2label": {"0": "disc", ...}, "label2id": {...},
                               "input_size": [W, H], "strides": [8, 16, 32], ...}
    FOLDER/model.safetensors  the state dict in Megvii's key layout (batch norm unfolded,
                              its statistics and counters included), float32
    FOLDER/classes.txt        the class names, one a line (line i = class i), for other tools

``input_size`` is the (width, height) the model was trained at, the default for running
it. Further keys (how it was trained, its held-out mAP) are kept as they are.
The network reads BGR 0..255 letterboxed at the top-left of a grey (114) canvas.

``write_folder`` writes each file atomically; ``read_folder`` checks everything (model
type, architecture, class table, every key and shape) and raises ``YoloxFolderError``
(a ``BadFormat``) with one line naming the file and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.core.errors import BadFormat
from engine.models.yolox.model import ARCHITECTURES, STRIDES, YoloxArch, YoloxModel, build_yolox

MODEL_TYPE = "yolox"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CLASSES_NAME = "classes.txt"
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_CLASSES = 4096
#: Largest weights file read (bytes): YOLOX-x with MAX_CLASSES classes in float32 is ~450 MB.
MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024


class YoloxFolderError(BadFormat, ValueError):
    """A detector model folder that cannot be opened; the message names the file."""


@dataclass(frozen=True)
class FolderSpec:
    """What config.json says: the architecture, class names (index = class id) and the
    (width, height) input size the model was trained at."""

    arch: YoloxArch
    classes: tuple[str, ...]
    input_size: tuple[int, int]


def make_config(arch: YoloxArch | str, classes: Sequence[str], input_size: tuple[int, int],
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config.json dict of a model folder (``extra`` keys added, never overriding)."""
    name = arch if isinstance(arch, str) else arch.name
    config: dict[str, Any] = dict(extra or {})
    config.update({
        "model_type": MODEL_TYPE, "architecture": name, "num_labels": len(classes),
        "id2label": {str(i): c for i, c in enumerate(classes)}, "label2id": {c: i for i, c in enumerate(classes)},
        "input_size": [int(input_size[0]), int(input_size[1])], "strides": list(STRIDES),
        "input": {"colour": "BGR", "scale": "0..255", "resize": "letterbox", "align": "top-left", "fill": 114},
    })
    return config


def write_folder(folder: str | Path, model: YoloxModel, classes: Sequence[str], input_size: tuple[int, int],
                 extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` (unfused) as a model folder; returns the folder."""
    from safetensors.torch import save

    from engine.core.safe_files import atomic_write_bytes, atomic_write_json

    if model.fused:
        raise ValueError("write the model before fusing its batch norms (the folder keeps Megvii's keys)")
    if len(classes) != model.num_classes:
        raise ValueError(f"{len(classes)} class names for a model with {model.num_classes} classes")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS_NAME, save(state, metadata={"format": "pt"}))
    atomic_write_bytes(folder / CLASSES_NAME, "".join(f"{c}\n" for c in classes).encode("utf-8"))
    atomic_write_json(folder / CONFIG_NAME, make_config(model.arch, classes, input_size, extra), indent=1)
    return folder


def _bad(what: str, todo: str = "save the model again with Teach (it writes config.json, "
                                 "model.safetensors and classes.txt)") -> YoloxFolderError:
    return YoloxFolderError(what, todo)


def parse_config(config: Mapping[str, Any], where: str = CONFIG_NAME) -> FolderSpec:
    """The ``FolderSpec`` of a parsed config.json; raises YoloxFolderError naming ``where``."""
    if config.get("model_type") != MODEL_TYPE:
        raise _bad(f"{where}: model_type is {str(config.get('model_type'))[:40]!r}, not 'yolox'")
    arch = config.get("architecture")
    if arch not in ARCHITECTURES:
        raise _bad(f"{where}: architecture {str(arch)[:40]!r} is not a YOLOX size",
                   f"give one of {', '.join(ARCHITECTURES)}")
    table = config.get("id2label")
    if not isinstance(table, dict) or not 1 <= len(table) <= MAX_CLASSES:
        raise _bad(f"{where} has no id2label table of 1 to {MAX_CLASSES} classes")
    names: dict[int, str] = {}
    for key, value in table.items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(value, str) and value.strip()):
            raise _bad(f"{where}: id2label entry {str(key)[:20]!r}: {str(value)[:40]!r} is not index: name")
        names[int(key)] = value
    if sorted(names) != list(range(len(names))):
        raise _bad(f"{where}: id2label's class ids do not run 0..{len(names) - 1}")
    size = config.get("input_size", list(ARCHITECTURES[arch].test_size))
    if (not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and 32 <= v <= 4096 and v % 32 == 0
                                                                for v in size)):
        raise _bad(f"{where}: input_size {str(size)[:40]} is not [width, height] in multiples of 32")
    return FolderSpec(ARCHITECTURES[arch], tuple(names[i] for i in range(len(names))), (size[0], size[1]))


def read_config(folder: str | Path) -> dict[str, Any]:
    """``folder/config.json`` as a dict (bounded read, JSON only); YoloxFolderError if unreadable."""
    from engine.core.regular_files import RegularFileError, read_regular_text

    path = Path(folder) / CONFIG_NAME
    try:
        config = json.loads(read_regular_text(path, MAX_CONFIG_BYTES, what="model config"))
    except RegularFileError as exc:
        raise _bad(exc.what, exc.todo or "give the folder Teach saved the model in") from None
    except json.JSONDecodeError as exc:
        raise _bad(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(config, dict):
        raise _bad(f"{path}: not a JSON object")
    return config


def skeleton(spec: FolderSpec) -> YoloxModel:
    """A model of ``spec``'s architecture and class count on the meta device (no memory)."""
    with torch.device("meta"):
        return YoloxModel(spec.arch, len(spec.classes))


def check_state(spec: FolderSpec, state: Mapping[str, Any], where: str | Path) -> None:
    """Every key and shape of ``state`` (real or meta tensors) is the architecture's;
    raises YoloxFolderError naming the first that is not."""
    from engine.models.checkpoint import first_mismatch

    expected = {k: tuple(v.shape) for k, v in skeleton(spec).state_dict().items()}
    problem = first_mismatch(expected, state)
    if problem is not None:
        raise _bad(f"{where} does not fit YOLOX-{spec.arch.name} with {len(spec.classes)} classes: {problem}",
                   "give the config.json that was saved with these weights")


def model_from_state(spec: FolderSpec, state: Mapping[str, torch.Tensor], where: str | Path) -> YoloxModel:
    """A CPU float32 model (eval mode, unfused) holding ``state``, checked first."""
    check_state(spec, state, where)
    model = build_yolox(spec.arch, len(spec.classes))
    model.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def read_folder(folder: str | Path) -> tuple[YoloxModel, FolderSpec, dict[str, Any]]:
    """(model, spec, config) of a model folder (see the module docstring)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from engine.core.regular_files import RegularFileError, read_regular_bytes

    folder = Path(folder)
    if not folder.is_dir():
        raise _bad(f"model folder {folder}: not a folder", "give the folder Teach saved the model in")
    config = read_config(folder)
    spec = parse_config(config, str(folder / CONFIG_NAME))
    path = folder / WEIGHTS_NAME
    try:
        data = read_regular_bytes(path, MAX_WEIGHTS_BYTES, what="weights file")
        state = load(data)
    except RegularFileError as exc:
        raise _bad(exc.what, exc.todo or "put the model.safetensors saved with config.json beside it") from None
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise _bad(f"{path}: not a valid safetensors file ({str(exc)[:120]})") from None
    return model_from_state(spec, state, path), spec, config
