"""The models the Feature maps tab and the ``inspect`` CLI can open.

Every model is a :class:`ModelSpec`: a builder that makes the architecture with random
weights, the preprocessing its trained weights expect, its class names and the catalog
entry holding those weights. The ImageNet classifiers are read from their catalog
entries (:mod:`engine.features.inspect.catalog`: transforms, meta, builder), which are the only
description of them. Names are torchvision's builder names (``resnet18``, ``alexnet``,
...) plus the built-in ``lenet5``; models of the other tabs join through
:mod:`engine.features.inspect.extra_models`.

Trained weights are never downloaded here: :func:`load_model` takes them from the
weights cache (``python main.py models fetch NAME``) or from a file the user names, and
``untrained=True`` gives random initial weights, which is a valid, labelled choice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from engine.features.inspect.lenet import DIGITS, LeNet5
from engine.models.weights_io import read_fitting_state, rename_densenet_keys

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

    @property
    def classifier(self) -> bool:
        """True when the outputs are class scores with names (FaceNet embeddings and
        Darknet's detection heads are not: they get no top-5)."""
        return bool(self.spec.categories)

    def preprocessing(self, input_size: int | None = None) -> Preprocessing:
        """The spec's preprocessing, at another square ``input_size`` when given."""
        pre = self.spec.preprocessing
        return pre if not input_size else replace(pre, input_size=int(input_size))


def _catalog_spec(entry) -> ModelSpec:
    """A ModelSpec read from an ImageNet catalog entry (its transforms, meta and builder)."""
    from engine.features.inspect.catalog import architecture, state_dict_fixups

    t = entry.transforms
    rename, ignore = state_dict_fixups(entry)
    return ModelSpec(
        name=entry.name,
        title=entry.title.replace(" (ImageNet)", ""),
        build=lambda: architecture(entry),
        preprocessing=Preprocessing(
            input_size=int(t.size[0]),
            mean=tuple(t.mean),
            std=tuple(t.std),
            channels=1 if t.colour == "GRAY" else 3,
            resize_size=entry.meta.get("resize_size"),
            interpolation=str(entry.meta.get("interpolation", "bilinear")),
        ),
        categories=tuple(entry.meta.get("categories", ())),
        catalog_name=entry.name,
        ignore_prefixes=ignore,
        rename_keys=rename,
    )


def _torchvision_zoo() -> tuple[str, ...]:
    from engine.features.inspect.catalog import ENTRIES

    return tuple(e.name for e in ENTRIES)


#: The torchvision models that have an ImageNet catalog entry of the same name.
TORCHVISION_ZOO: tuple[str, ...] = _torchvision_zoo()


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
    # The Style tab's network: its catalog entry (engine.features.style.catalog) holds the weights;
    # the architecture and preprocessing are those of the other torchvision ImageNet models.
    import torchvision.models as tvm

    from engine.features.inspect.catalog import IMAGENET_CATEGORIES, IMAGENET_MEAN, IMAGENET_STD

    return ModelSpec(
        name="vgg19",
        title="VGG-19 (Style tab)",
        build=lambda: tvm.vgg19(weights=None),
        preprocessing=Preprocessing(input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize_size=256),
        categories=IMAGENET_CATEGORIES,
        catalog_name="vgg19",
        family="style",
    )


_SPECS: dict[str, ModelSpec] | None = None


def _specs() -> dict[str, ModelSpec]:
    global _SPECS
    if _SPECS is None:
        specs = {"lenet5": _lenet_spec()}
        from engine.features.inspect.catalog import ENTRIES

        for entry in ENTRIES:
            specs[entry.name] = _catalog_spec(entry)
        specs["vgg19"] = _vgg19_spec()
        from engine.features.inspect.extra_models import extra_specs

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
    from engine.models.catalog import catalog

    cat = catalog()
    if spec.catalog_name is not None and spec.catalog_name in cat:
        return cat.get(spec.catalog_name)
    return None


def _untrained(spec: ModelSpec, seed: int) -> nn.Module:
    # Seeded, so an untrained model's filters and top-5 are the same every time; the
    # global random state of the caller is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return spec.build()


def load_model(
    name: str,
    *,
    weights: str | Path | None = None,
    untrained: bool = False,
    cache=None,
    seed: int = 0,
) -> InspectModel:
    """Build ``name`` in eval mode on the CPU with its weights.

    weights: a state-dict file (``torch.save(model.state_dict())`` or a published
    checkpoint) to load instead of the catalog's. untrained: keep the random initial
    weights, drawn with ``seed`` (the same weights every time). Otherwise the catalog
    weights must be installed in ``cache`` (default: the app's cache);
    ``WeightsMissingError`` says how to install them. Catalogued ImageNet models are
    built by their entry's builder.

    Raises WeightsMismatchError (naming the first missing or unexpected key) when the
    file does not fit the architecture, UnknownInspectModelError for a bad name.
    """
    spec = model_spec(name)
    if untrained:
        if weights is not None:
            raise ValueError("choose either a weights file or untrained weights, not both")
        return InspectModel(spec, _untrained(spec, seed).eval(), UNTRAINED_LABEL, trained=False)
    entry = catalog_entry_for(spec)
    if weights is None and entry is None:
        raise FileNotFoundError(f"{name} has no catalogued weights: give a weights file or choose untrained weights")
    if entry is not None and entry.builder is not None and entry.task == "inspect":
        module = entry.builder(entry, cache, None, weights=weights)
        label = Path(weights).name if weights is not None else f"{entry.title} ({entry.source})"
        log.info("loaded %s with %s", name, label)
        return InspectModel(spec, module.eval(), label, trained=True)
    module = spec.build().eval()
    if weights is None:
        if cache is None:
            from engine.models.cache import default_cache

            cache = default_cache()
        path = cache.require(entry)
        label = f"{entry.title} ({entry.source})" if getattr(entry, "source", "") else entry.title
    else:
        path = Path(weights)
        label = path.name
    state = read_fitting_state(path, module, model_name=name, source=str(path), rename=spec.rename_keys,
                               ignore_prefixes=spec.ignore_prefixes)
    module.load_state_dict(state, strict=False)
    module.eval()
    log.info("loaded %s with weights from %s", name, path)
    return InspectModel(spec, module, label, trained=True)
