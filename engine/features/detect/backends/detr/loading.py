"""RT-DETR / RT-DETRv2 from a transformers-layout folder -> a ready ``SetDetector``.

``rtdetr_from_folder(folder, config, state, *, options, device, name)`` is the loader
``engine.features.detect.model_dir.FOLDER_LOADERS`` names for "rt_detr" and
"rt_detr_v2" (the catalog's rtdetr entries use it too): the network is built from the
config (``spec.spec_from_config``), ``state`` (the safetensors tensors) must fit it key
for key, and ``options`` are checked against its capabilities before the weights load.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.features.detect.backends.detr import hf_folder
from engine.features.detect.backends.detr.detector import DETR_TRANSFORMS, SetDetector, built_set_detector, detr_capabilities
from engine.features.detect.options import DetectorOptions
from engine.models.catalog import Capabilities

log = logging.getLogger(__name__)


def capabilities_for(spec) -> Capabilities:
    """Adjustable input (multiples of 32) unless the config fixed the anchors or positions to one size."""
    fixed = spec.fixed_size
    return detr_capabilities(fixed or (640, 640), adjustable=fixed is None)


def _complete(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with the buffers that carry no learned value made to match the module:
    BatchNorm's ``num_batches_tracked`` (some exports keep it, some drop it) and
    RT-DETRv2's ``n_points_scale`` (a constant, 1 / points) when a file lacks it."""
    own = module.state_dict()
    out = {k: v for k, v in state.items() if not (k.endswith("num_batches_tracked") and k not in own)}
    # The heads are shared between the model and its decoder in transformers; a file may
    # keep them under the outer name ("class_embed.0.weight") instead of the decoder's.
    for key in [k for k in out if k.startswith(("class_embed.", "bbox_embed."))]:
        inner = "model.decoder." + key
        if inner in own:
            value = out.pop(key)
            out.setdefault(inner, value)
    for key, value in own.items():
        if key not in out and (key.endswith("num_batches_tracked") or key.endswith("n_points_scale")):
            out[key] = value
    return out


def build_network(config: Mapping[str, Any], state: Mapping[str, torch.Tensor], where: str | Path):
    """(RTDetr network with the weights loaded, its spec, class names)."""
    from engine.features.detect.backends.detr.rtdetr import RTDetr
    from engine.features.detect.backends.detr.spec import spec_from_config

    names = hf_folder.class_names(config)
    spec = spec_from_config(config, len(names))
    with torch.device("meta"):
        skeleton = RTDetr(spec)
    # Checked against the skeleton first: a file of another size allocates nothing.
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    state = _complete(skeleton, state)
    from engine.models.checkpoint import first_mismatch

    problem = first_mismatch(expected, state)
    if problem is not None:
        raise hf_folder.ModelFolderError(f"{where} does not fit the architecture in config.json: {problem}",
                                         "give the config.json that was saved with these weights")
    network = RTDetr(spec)
    hf_folder.load_state(network, state, where)
    return network.eval(), spec, names


def rtdetr_from_folder(folder: str | Path, config: Mapping[str, Any], state: Mapping[str, torch.Tensor], *,
                       options: DetectorOptions | None = None, device: torch.device | str | None = None,
                       name: str | None = None) -> SetDetector:
    """The detector in a folder of an "rt_detr" or "rt_detr_v2" model (see module docstring)."""
    from engine.features.detect.backends.detr.spec import spec_from_config

    folder = Path(folder)
    options = options or DetectorOptions()
    name = name or folder.name
    caps = capabilities_for(spec_from_config(config, len(hf_folder.class_names(config))))
    options.check(caps, name)
    options, choice = options.resolve(caps, torch.device(device).type if device is not None else "cpu")
    network, spec, names = build_network(config, state, folder / hf_folder.WEIGHTS_NAME)
    log.info("%s: %s with %d classes, %d queries", name, config.get("model_type"), len(names), spec.num_queries)
    return built_set_detector(network, names, options, device, name=name, transforms=DETR_TRANSFORMS,
                              capabilities=caps, choice=choice)


#: The same loader under the name model_dir's table gives RT-DETRv2 (the config tells them apart).
rtdetr_v2_from_folder = rtdetr_from_folder
