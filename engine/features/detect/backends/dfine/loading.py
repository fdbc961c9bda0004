"""A D-FINE model folder (transformers layout) -> a ready ``SetDetector``.

``dfine_from_folder(folder, config, state, *, options, device, name)`` is what
``engine.features.detect.model_dir`` calls for ``model_type`` "d_fine"; the catalog's
builder calls it with the downloaded files. ``config`` is the parsed config.json, ``state``
the safetensors tensors. Key spellings other than the released files' are accepted where
they are only renamings: transformers 5's in-memory names (``aifi``, ``mlp.layers``,
``o_proj``), the top-level copies of the tied heads, and a missing ``num_batches_tracked``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from engine.features.detect.backends.detr import hf_folder
from engine.features.detect.backends.detr.capabilities import DETR_TRANSFORMS, detr_capabilities
from engine.features.detect.backends.detr.detector import SetDetector, built_set_detector
from engine.features.detect.backends.detr.loading import _complete
from engine.features.detect.backends.dfine.config import parse_config
from engine.features.detect.backends.dfine.model import DFine
from engine.features.detect.options import DetectorOptions
from engine.models.catalog import Capabilities

log = logging.getLogger(__name__)

_RENAMES = (
    (re.compile(r"^model\.encoder\.aifi\."), "model.encoder.encoder."),
    (re.compile(r"\.mlp\.layers\.0\."), ".fc1."),
    (re.compile(r"\.mlp\.layers\.1\."), ".fc2."),
    (re.compile(r"\.self_attn\.o_proj\."), ".self_attn.out_proj."),
)


def normalise_keys(state: dict[str, torch.Tensor], module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state`` with the released files' key names (see the module docstring): the
    renamings here, then the DETR family's completion (tied heads, BatchNorm counters),
    then D-FINE's constant ``num_points_scale`` where a file lacks it."""
    own = module.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            for pattern, replacement in _RENAMES:
                key = pattern.sub(replacement, key)
        renamed[key] = value
    out = _complete(module, renamed)
    for key, value in own.items():
        if key.endswith("num_points_scale") and key not in out:
            out[key] = value
    return out


def build_dfine(config: dict[str, Any], state: dict[str, torch.Tensor], where: str | Path, *,
                course: bool = True) -> DFine:
    """The network from a config dict and its tensors (float32, eval mode). Raises the
    UserError family: BadFormat for a config or a tensor that does not fit (naming it)."""
    spec = parse_config(config, f"{Path(where).parent / hf_folder.CONFIG_NAME}")
    model = DFine(spec, course=course)
    hf_folder.load_state(model, normalise_keys(state, model), where)
    return model.float().eval()


def dfine_capabilities(config: dict[str, Any]) -> Capabilities:
    """A D-FINE folder's capabilities from its config: a fixed input when the config fixes
    its anchors (``anchor_image_size``, height then width), else adjustable from 640x640."""
    fixed = config.get("anchor_image_size")
    if isinstance(fixed, (list, tuple)) and len(fixed) == 2 and all(isinstance(v, int) for v in fixed):
        return detr_capabilities((int(fixed[1]), int(fixed[0])), adjustable=False)
    return detr_capabilities(DETR_TRANSFORMS.size or (640, 640))


def dfine_from_folder(folder: str | Path, config: dict[str, Any], state: dict[str, torch.Tensor], *,
                      options: DetectorOptions | None = None, device: torch.device | str | None = None,
                      name: str | None = None, capabilities: Capabilities | None = None) -> SetDetector:
    """A ``SetDetector`` running our D-FINE; class names from ``id2label``. The input size
    may change (multiples of 32) unless the config fixes its anchors
    (``anchor_image_size``, height then width) or ``capabilities`` (a catalog entry's) say
    otherwise."""
    folder = Path(folder)
    options = options or DetectorOptions()
    name = name or folder.name
    names = hf_folder.class_names(config, str(folder / hf_folder.CONFIG_NAME))
    if capabilities is None:
        capabilities = dfine_capabilities(config)
    size = capabilities.input_size.default if capabilities.input_size is not None else (640, 640)
    transforms = replace(DETR_TRANSFORMS, size=tuple(size))
    options.check(capabilities, name)
    options, choice = options.resolve(capabilities, torch.device(device).type if device is not None else "cpu")
    model = build_dfine(config, state, folder / hf_folder.WEIGHTS_NAME)
    log.info("D-FINE %s: %d classes, %d queries, %d decoder layers", name, len(names),
             model.spec.num_queries, model.spec.eval_layer + 1)
    return built_set_detector(model, names, options, device, name=name, transforms=transforms,
                              capabilities=capabilities, choice=choice)
