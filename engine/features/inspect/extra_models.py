"""The networks of the other features, found through the feature registry.

Each feature lists its inspectable networks in ``Feature.inspectables`` ("module:function"
references returning a ``ModelSpec`` or None), so this package imports none of them and
a new feature's networks appear without an edit here. A reference that fails to load or
to build is skipped with a warning, so one broken feature cannot empty the model picker.
Specs build the architecture with random weights; trained weights come from a catalog
entry or from a state-dict file the user names.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from engine.features.registry import inspectable_refs, resolve
from engine.models.inspectable import ModelSpec

log = logging.getLogger(__name__)


def extra_specs() -> list[ModelSpec]:
    """ModelSpecs the other features declare, in tab order, titled with their tab's name."""
    specs = []
    for feature, ref in inspectable_refs():
        try:
            spec = resolve(ref)()
        except Exception as exc:  # a half-written feature must not break the zoo
            log.warning("inspectable model %s of feature '%s' skipped: %s: %s", ref, feature.key, type(exc).__name__, exc)
            continue
        if spec is None:
            continue  # cannot be built on this installation (a missing cfg file, ...)
        if not isinstance(spec, ModelSpec):
            log.warning("inspectable model %s of feature '%s' skipped: it returned a %s, not a ModelSpec",
                        ref, feature.key, type(spec).__name__)
            continue
        specs.append(replace(spec, title=f"{spec.title} ({feature.title} tab)", family=feature.key))
    return specs
