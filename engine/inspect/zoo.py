"""The models the Feature maps tab and the ``inspect`` CLI can open.

Every model is a :class:`ModelSpec`: a builder that makes the architecture with random
weights, the preprocessing its trained weights expect, its class names and the catalog
entry holding those weights. Names are torchvision's builder names (``resnet18``,
``alexnet``, ...) plus the built-in ``lenet5``; models of the other tabs join through
:mod:`engine.inspect.extra_models`.

Trained weights are never downloaded here: :func:`load_model` takes them from the
weights cache (``python main.py models fetch NAME``) or from a file the user names, and
``untrained=True`` gives random initial weights, which is a valid, labelled choice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from engine.inspect.lenet import DIGITS, LeNet5
from engine.inspect.weights_io import load_checked, read_state_dict, rename_densenet_keys

log = logging.getLogger(__name__)

UNTRAINED_LABEL = "untrained (random initial weights)"


class UnknownInspectModelError(KeyError):
    """A model name the zoo does not know; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"


@dataclass(frozen=True)
class Preprocessing:
    """How a frame becomes the network's input.

    input_size: side of the square input in pixels. mean/std: per channel, applied to
    values scaled to [0, 1], in the network's channel order (RGB, or one gray channel).
    channels: 3 for RGB, 1 for grayscale. resize_size/interpolation: what the weights'
    evaluation transform used (resize the short side, then centre-crop input_size).
    """

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3
    resize_size: int | None = None
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class ModelSpec:
    """An inspectable model.

    build: returns the architecture with random weights (float32, CPU).
    categories: class names of the output units ("" entries when unknown).
    catalog_name: the weights' catalog entry, or None when weights come only from a file.
    ignore_prefixes: state-dict keys of the published checkpoint that the inspected
    architecture leaves out on purpose (GoogLeNet's auxiliary heads).
    rename_keys: maps a published checkpoint's old key names to the current ones.
    """

    name: str
    title: str
    build: Callable[[], nn.Module]
    preprocessing: Preprocessing
    categories: tuple[str, ...] = ()
    catalog_name: str | None = None
    family: str = "torchvision"
    ignore_prefixes: tuple[str, ...] = ()
    rename_keys: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = field(default=None, compare=False)


@dataclass
class InspectModel:
    """A built model in eval mode with the weights it carries.

    trained: False when the weights are random (``weights_label`` then says so).
    """

    spec: ModelSpec
    module: nn.Module
    weights_label: str
    trained: bool

    @property
    def name(self) -> str:
        return self.spec.name


# name -> (title, builder keyword arguments). The keyword arguments make the random
# architecture match the published checkpoint's layout (GoogLeNet without its training-
# only auxiliary heads, as torchvision's pretrained builder leaves it).
_TORCHVISION_MODELS: dict[str, tuple[str, dict]] = {
    "alexnet": ("AlexNet", {}),
    "vgg16": ("VGG-16", {}),
    "resnet18": ("ResNet-18", {}),
    "resnet50": ("ResNet-50", {}),
    "googlenet": ("GoogLeNet (Inception v1)", {"aux_logits": False, "init_weights": True, "transform_input": True}),
    "inception_v3": ("Inception v3", {"init_weights": True, "transform_input": True}),
    "densenet121": ("DenseNet-121", {}),
    "mobilenet_v2": ("MobileNet v2", {}),
    "mobilenet_v3_large": ("MobileNet v3 (large)", {}),
    "efficientnet_b0": ("EfficientNet-B0", {}),
}

#: The torchvision models that have an ImageNet catalog entry of the same name.
TORCHVISION_ZOO: tuple[str, ...] = tuple(_TORCHVISION_MODELS)


def torchvision_weights(name: str):
    """torchvision's default ImageNet weights enum member for builder ``name`` (metadata only)."""
    import torchvision.models as tvm

    return tvm.get_model_weights(name).DEFAULT


def _torchvision_spec(name: str, title: str, kwargs: Mapping, catalog_name: str | None) -> ModelSpec:
    import torchvision.models as tvm

    weights = torchvision_weights(name)
    transform = weights.transforms()
    interpolation = getattr(transform.interpolation, "value", str(transform.interpolation))
    preprocessing = Preprocessing(
        input_size=int(transform.crop_size[0]),
        mean=tuple(float(m) for m in transform.mean),
        std=tuple(float(s) for s in transform.std),
        resize_size=int(transform.resize_size[0]),
        interpolation=str(interpolation),
    )
    builder = tvm.get_model_builder(name)
    ignore = ("aux1.", "aux2.") if name == "googlenet" else ()
    return ModelSpec(
        name=name,
        title=title,
        build=lambda: builder(weights=None, **kwargs),
        preprocessing=preprocessing,
        categories=tuple(weights.meta["categories"]),
        catalog_name=catalog_name,
        ignore_prefixes=ignore,
        rename_keys=rename_densenet_keys if name.startswith("densenet") else None,
    )


def _lenet_spec() -> ModelSpec:
    return ModelSpec(
        name="lenet5",
        title="LeNet-5 (built in)",
        build=LeNet5,
        preprocessing=Preprocessing(input_size=32, mean=(0.5,), std=(0.5,), channels=1),
        categories=DIGITS,
        family="builtin",
    )


def _vgg19_spec() -> ModelSpec:
    # The Style tab's network. Its weights may be catalogued by the style package under
    # its own name, so the entry is found by URL at load time rather than named here.
    spec = _torchvision_spec("vgg19", "VGG-19 (Style tab)", {}, None)
    return ModelSpec(**{**spec.__dict__, "family": "style"})


_SPECS: dict[str, ModelSpec] | None = None


def _specs() -> dict[str, ModelSpec]:
    global _SPECS
    if _SPECS is None:
        specs = {"lenet5": _lenet_spec()}
        for name, (title, kwargs) in _TORCHVISION_MODELS.items():
            specs[name] = _torchvision_spec(name, title, kwargs, catalog_name=name)
        specs["vgg19"] = _vgg19_spec()
        from engine.inspect.extra_models import extra_specs

        for spec in extra_specs():
            specs.setdefault(spec.name, spec)
        _SPECS = specs
    return _SPECS


def model_names() -> list[str]:
    """Every inspectable model name, zoo order (LeNet-5, torchvision, other tabs)."""
    return list(_specs())


def model_spec(name: str) -> ModelSpec:
    """The spec of ``name``; UnknownInspectModelError lists the valid names."""
    try:
        return _specs()[name]
    except KeyError:
        raise UnknownInspectModelError(f"unknown model '{name}': choose one of {', '.join(model_names())}") from None


def catalog_entry_for(spec: ModelSpec):
    """The catalog entry holding ``spec``'s trained weights, or None."""
    from engine.weights.catalog import catalog

    cat = catalog()
    if spec.catalog_name is not None:
        return cat.get(spec.catalog_name)
    if spec.family in ("torchvision", "style"):
        url = torchvision_weights(spec.name).url
        for entry in cat.entries():
            if any(f.url == url for f in entry.files):
                return entry
    return None


def load_model(
    name: str,
    *,
    weights: str | Path | None = None,
    untrained: bool = False,
    cache=None,
) -> InspectModel:
    """Build ``name`` in eval mode on the CPU with its weights.

    weights: a state-dict file (``torch.save(model.state_dict())`` or a published
    checkpoint) to load instead of the catalog's. untrained: keep the random initial
    weights. Otherwise the catalog weights must be installed in ``cache`` (default:
    the app's cache); ``WeightsMissingError`` says how to install them.

    Raises WeightsMismatchError (naming the first missing or unexpected key) when the
    file does not fit the architecture, UnknownInspectModelError for a bad name.
    """
    spec = model_spec(name)
    module = spec.build()
    module.eval()
    if untrained:
        if weights is not None:
            raise ValueError("choose either a weights file or untrained weights, not both")
        return InspectModel(spec, module, UNTRAINED_LABEL, trained=False)
    if weights is None:
        entry = catalog_entry_for(spec)
        if entry is None:
            raise FileNotFoundError(f"{name} has no catalogued weights: give a weights file or choose untrained weights")
        if cache is None:
            from engine.weights.cache import default_cache

            cache = default_cache()
        path = cache.require(entry)
        label = f"{entry.title} ({entry.source})" if getattr(entry, "source", "") else entry.title
    else:
        path = Path(weights)
        label = path.name
    state = read_state_dict(path)
    if spec.rename_keys is not None:
        state = spec.rename_keys(state)
    load_checked(module, state, model_name=name, source=str(path), ignore_prefixes=spec.ignore_prefixes)
    module.eval()
    log.info("loaded %s with weights from %s", name, path)
    return InspectModel(spec, module, label, trained=True)
