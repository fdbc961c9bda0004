"""The models the Feature maps tab and the ``inspect`` CLI can open.

Every model is a :class:`ModelSpec`: a builder that makes the architecture with random
weights, the preprocessing its trained weights expect (a catalog ``Transforms``, the
entry's own where there is an entry), its class names and the catalog entry holding
those weights. The ImageNet classifiers are read from their catalog
entries (:mod:`engine.features.inspect.catalog`: transforms, meta, builder), which are the only
description of them. Names are torchvision's builder names (``resnet18``, ``alexnet``,
...) plus the built-in ``lenet5``; models of the other features join through
:mod:`engine.features.inspect.extra_models` (each feature declares them in its
``Feature.inspectables``). ``ModelSpec`` lives in
:mod:`engine.models.inspectable`, below the features, so a feature can describe its
networks without importing this one.

Trained weights are never downloaded here: :func:`load_model` takes them from the
weights cache (``python main.py models fetch NAME``) or from a file the user names, and
``untrained=True`` gives random initial weights, which is a valid, labelled choice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from engine.features.inspect.lenet import DIGITS, LeNet5
from engine.features.registry import registry
from engine.models.catalog import Transforms, UnknownModelError
from engine.models.inspectable import ModelSpec
from engine.models.weights_io import read_fitting_state

log = logging.getLogger(__name__)

UNTRAINED_LABEL = "untrained (random initial weights)"
#: LeNet-5 (built in, no catalog entry): 32 x 32 gray, (pixel / 255 - 0.5) / 0.5.
LENET_TRANSFORMS = Transforms(size=(32, 32), colour="GRAY", scale=1.0 / 255.0, mean=(0.5,), std=(0.5,))


# The zoo's unknown names are the catalog's: one error for a model name that does not exist.
UnknownInspectModelError = UnknownModelError


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

    def input_transforms(self, input_size: int | None = None) -> Transforms:
        """The spec's transforms as live inspection applies them: the whole frame stretched
        to a square of ``input_size`` pixels (default: the weights' own side), so that maps,
        saliency and receptive-field boxes cover the whole picture the user sees (the slight
        change of aspect ratio does not matter for looking at features); the colour and
        normalisation stay the weights'."""
        t = self.spec.transforms
        side = int(input_size) if input_size else int(t.size[0])
        return replace(t, size=(side, side), resize="stretch", resize_size=None)


def _catalog_spec(entry) -> ModelSpec:
    """A ModelSpec read from an ImageNet catalog entry (its transforms, meta and builder)."""
    from engine.features.inspect.catalog import architecture, state_dict_fixups

    rename, ignore = state_dict_fixups(entry)
    return ModelSpec(
        name=entry.name,
        title=entry.title.replace(" (ImageNet)", ""),
        build=lambda: architecture(entry),
        transforms=entry.transforms,
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
        transforms=LENET_TRANSFORMS,
        categories=DIGITS,
        family="builtin",
    )


# The zoo of the registry it was made from: reloading the registry (a plugin added or
# removed) makes it again.
_SPECS: tuple[object, dict[str, ModelSpec]] | None = None


def _specs() -> dict[str, ModelSpec]:
    global _SPECS
    features = registry()
    if _SPECS is None or _SPECS[0] is not features:
        specs = {"lenet5": _lenet_spec()}
        from engine.features.inspect.catalog import ENTRIES

        for entry in ENTRIES:
            specs[entry.name] = _catalog_spec(entry)
        from engine.features.inspect.extra_models import extra_specs

        for spec in extra_specs():
            specs.setdefault(spec.name, spec)
        _SPECS = (features, specs)
    return _SPECS[1]


def model_names() -> list[str]:
    """Every inspectable model name, zoo order (LeNet-5, torchvision, other features in tab order)."""
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
