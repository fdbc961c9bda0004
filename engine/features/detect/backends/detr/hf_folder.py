"""Reading a model folder in the Hugging Face transformers layout, without running code.

A folder written by ``model.save_pretrained(folder)`` holds ``config.json`` (the
architecture: ``model_type``, sizes, ``id2label``) and ``model.safetensors`` (the
weights: a JSON header of names, dtypes and shapes, then raw tensor bytes). Both are
read here under size bounds, and nothing in them is executed: JSON is data, and
safetensors is read with the ``safetensors`` package (no pickle). Older folders hold
``pytorch_model.bin`` (a pickle) instead; those are refused with what to do.

Public helpers:
- ``read_config(folder, supported)`` -> the config dict, after checking ``model_type``;
- ``class_names(config)`` -> labels in class-index order from ``id2label``;
- ``read_state(folder, max_bytes=None)`` -> {key: CPU tensor} from ``model.safetensors``;
- ``load_state(module, state, folder)`` -> loads it, refusing the first key that does
  not fit (missing, unexpected or of another shape).

Every problem is a ``ModelFolderError`` (a ``BadFormat``) or, for an architecture we do
not run, ``UnsupportedModelError`` (an ``Unsupported``): one line naming the file and
what to do.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.core.errors import BadFormat, Unsupported

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: Pickled weights files that older transformers versions (and other tools) wrote.
PICKLED_NAMES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "pytorch_model.pt")
MAX_CONFIG_BYTES = 4 * 1024 * 1024        # a detector's config.json is ~10 KB (COCO id2label included)
MAX_HEADER_BYTES = 16 * 1024 * 1024       # safetensors' own cap on its JSON header is 100 MB; ours is tighter
MAX_CLASSES = 100_000

_CONVERT = ("load it with transformers and save it again with model.save_pretrained(folder), "
            "which writes model.safetensors")


class ModelFolderError(BadFormat, ValueError):
    """A model folder or one of its files is missing, damaged or does not fit; the
    message names the file and what to do."""


class UnsupportedModelError(Unsupported, ValueError):
    """A well-formed folder of an architecture this application does not run."""


def read_config(folder: str | Path, supported: Iterable[str]) -> dict[str, Any]:
    """``folder/config.json`` as a dict; its ``model_type`` must be one of ``supported``.

    Raises ModelFolderError (no folder, no config.json, not JSON, no model_type) or
    UnsupportedModelError (naming the supported types).
    """
    from engine.core.regular_files import MissingFileError, RegularFileError, read_regular_text

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder}: not a folder",
                               "give the folder that holds config.json and model.safetensors")
    path = folder / CONFIG_NAME
    try:
        text = read_regular_text(path, MAX_CONFIG_BYTES, what="model config")
    except MissingFileError:
        raise ModelFolderError(f"model folder {folder} has no {CONFIG_NAME}",
                               "give a folder saved by transformers' save_pretrained (config.json + "
                               "model.safetensors)") from None
    except RegularFileError as exc:
        raise ModelFolderError(exc.what, exc.todo) from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})",
                               "give the config.json written with the weights") from None
    if not isinstance(config, dict):
        raise ModelFolderError(f"{path}: holds a JSON {type(config).__name__}, not an object",
                               "give the config.json written with the weights")
    kinds = tuple(supported)
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ModelFolderError(f"{path} names no model_type",
                               f"this application opens folders of {', '.join(kinds)} models")
    if model_type not in kinds:
        raise UnsupportedModelError(f"{path}: model_type '{model_type[:60]}' is not supported",
                                    f"this application opens folders of {', '.join(kinds)} models")
    return config


def class_names(config: Mapping[str, Any], where: str = CONFIG_NAME) -> tuple[str, ...]:
    """Labels by class index from ``config["id2label"]`` ({"0": "person", ...}); the ids
    must be 0..n-1, each once. Raises ModelFolderError naming ``where``."""
    table = config.get("id2label")
    todo = 'give config.json an id2label table {"0": "first class", "1": ...} with one entry per class'
    if not isinstance(table, dict) or not table:
        raise ModelFolderError(f"{where} has no id2label table", todo)
    if len(table) > MAX_CLASSES:
        raise ModelFolderError(f"{where}: id2label lists {len(table):,} classes, more than {MAX_CLASSES:,}", todo)
    names: dict[int, str] = {}
    for key, value in table.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ModelFolderError(f"{where}: id2label key '{str(key)[:40]}' is not a class index", todo) from None
        if not isinstance(value, str):
            raise ModelFolderError(f"{where}: id2label[{index}] is not a text label", todo)
        names[index] = value
    if sorted(names) != list(range(len(names))):
        missing = next(i for i in range(len(names)) if i not in names)
        raise ModelFolderError(f"{where}: id2label has no class {missing} (ids must run 0..{len(names) - 1})", todo)
    return tuple(names[i] for i in range(len(names)))


def weights_path(folder: str | Path) -> Path:
    """``folder/model.safetensors``; a pickled weights file there instead is refused
    (we never unpickle), as is a folder with neither."""
    folder = Path(folder)
    path = folder / WEIGHTS_NAME
    if path.exists():
        return path
    pickled = next((folder / n for n in PICKLED_NAMES if (folder / n).exists()), None)
    if pickled is not None:
        raise ModelFolderError(f"{pickled}: pickled weights are not opened (a pickle can run code)",
                               f"give model.safetensors instead: {_CONVERT}")
    if any(p.name.endswith(".safetensors.index.json") for p in folder.iterdir()):
        raise ModelFolderError(f"{folder}: weights split into several safetensors files are not supported",
                               "save the model as one file (save_pretrained(folder, max_shard_size='10GB'))")
    raise ModelFolderError(f"model folder {folder} has no {WEIGHTS_NAME}",
                           "put the weights saved with config.json beside it")


def read_state(folder: str | Path, max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """The tensors of ``folder/model.safetensors`` on the CPU, as stored (dtype kept).

    The file is at most ``max_bytes`` (default: the app's input limit); its header is
    checked (length, JSON) before the tensors are read. Raises ModelFolderError.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    from engine.core import limits
    from engine.core.regular_files import RegularFileError, read_regular_bytes

    path = weights_path(folder)
    bound = limits.current()
    budget = int(max_bytes or bound.max_input_bytes)
    try:
        data = read_regular_bytes(path, budget, what="weights file", hint=bound.hint("max_input_bytes"))
    except RegularFileError as exc:
        raise ModelFolderError(exc.what, exc.todo) from None
    if data[:1] == b"\x80" or data[:2] == b"PK":  # a pickle or a torch.save zip renamed
        raise ModelFolderError(f"{path}: a pickled PyTorch file under a safetensors name",
                               f"give a real safetensors file: {_CONVERT}")
    if len(data) < 8:
        raise ModelFolderError(f"{path}: {len(data)} bytes is too short for a safetensors file",
                               "the file is damaged; copy it again")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ModelFolderError(f"{path}: not a safetensors file (header of {header_len:,} bytes)",
                               "the file is damaged or of another format; copy it again")
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelFolderError(f"{path}: not a valid safetensors file ({str(exc)[:120]})",
                               "the file is damaged or truncated; copy it again") from None


def safetensors_keys(path: str | Path) -> list[str]:
    """The tensor names in a safetensors file's header (the tensors are not read)."""
    from engine.core.regular_files import RegularFileError, open_regular

    try:
        with open_regular(path, None, what="weights file") as fh:
            size = fh.read(8)
            if len(size) < 8:
                raise ModelFolderError(f"{path}: too short for a safetensors file", "copy it again")
            (length,) = struct.unpack("<Q", size)
            if length > MAX_HEADER_BYTES:
                raise ModelFolderError(f"{path}: not a safetensors file (header of {length:,} bytes)",
                                       "give the model.safetensors file")
            header = json.loads(fh.read(length))
    except RegularFileError as exc:
        raise ModelFolderError(exc.what, exc.todo) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFolderError(f"{path}: not a safetensors file (its header is not JSON)",
                               "give the model.safetensors file") from None
    if not isinstance(header, dict):
        raise ModelFolderError(f"{path}: not a safetensors file", "give the model.safetensors file")
    return [k for k in header if k != "__metadata__"]


def load_state(module: nn.Module, state: Mapping[str, torch.Tensor], where: str | Path) -> None:
    """Copy ``state`` into ``module`` (converted to its dtypes), after checking that the
    keys and shapes are exactly the module's; the first that is not is named in a
    ModelFolderError (``where``: the weights file)."""
    from engine.models.checkpoint import first_mismatch

    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    problem = first_mismatch(expected, state)
    if problem is not None:
        raise ModelFolderError(f"{where} does not fit the architecture in config.json: {problem}",
                               "give the config.json that was saved with these weights")
    bad = next((k for k, v in state.items() if not (v.is_floating_point() or k.endswith("num_batches_tracked"))),
               None)
    if bad is not None and module.state_dict()[bad].is_floating_point():
        raise ModelFolderError(f"{where}: key '{bad}' holds {state[bad].dtype} values, not floats",
                               "give the weights saved with this config.json")
    module.load_state_dict(dict(state), strict=True)
