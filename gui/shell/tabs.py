"""The feature tabs, built from the feature registry and loaded defensively, so one broken
tab cannot take the app down.

The order, titles and tab classes come from ``engine.features.registry`` (each feature's
``Feature.tab``, a "module:Class" string the engine never imports); features that could
not be loaded at all get a placeholder tab after the others, saying why.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from gui.common.placeholder_tab import PlaceholderTab
from gui.common.tab_base import StudioTab

if TYPE_CHECKING:
    from engine.features.registry import Feature
    from gui.common.context import AppContext

log = logging.getLogger(__name__)


def load_tab(context: "AppContext", module_name: str, class_name: str, title: str) -> StudioTab:
    """Import and build one tab; on any failure return a PlaceholderTab that says why."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the tab exists but one of its imports is missing
            log.exception("tab %s could not be imported", title)
            return PlaceholderTab(context, title, f"{module_name} failed to import: {exc}")
        return PlaceholderTab(context, title, f"{module_name} is not installed.")
    except Exception as exc:  # a syntax error or a failing import inside the tab
        log.exception("tab %s could not be imported", title)
        return PlaceholderTab(context, title, f"{module_name} failed to import: {type(exc).__name__}: {exc}")
    cls = getattr(module, class_name, None)
    if cls is None:
        log.error("%s has no %s", module_name, class_name)
        return PlaceholderTab(context, title, f"{module_name} has no {class_name}.")
    try:
        tab = cls(context)
    except Exception as exc:
        log.exception("tab %s could not be created", title)
        return PlaceholderTab(context, title, f"{class_name} could not be created: {type(exc).__name__}: {exc}")
    if not isinstance(tab, StudioTab):
        log.error("%s.%s is not a StudioTab", module_name, class_name)
        return PlaceholderTab(context, title, f"{class_name} is not a StudioTab.")
    return tab


def tab_modules() -> list[str]:
    """The modules of the registered features' tabs, in tab order (the app pre-imports them)."""
    from engine.features.registry import features

    return [feature.tab.partition(":")[0] for feature in features() if feature.tab]


def load_feature_tab(context: "AppContext", feature: "Feature") -> StudioTab:
    """The tab of ``feature`` (a placeholder when it cannot be built), titled as the feature says."""
    assert feature.tab is not None
    module_name, _, class_name = feature.tab.partition(":")
    tab = load_tab(context, module_name, class_name, feature.title)
    tab.title = feature.title  # the registry is the one place a feature's name is kept
    return tab


def load_tabs(context: "AppContext") -> list[StudioTab]:
    """One tab per registered feature that has one, in the registry's order, then a
    placeholder for each feature that could not be loaded."""
    from engine.features.registry import registry

    features = registry()
    tabs = [load_feature_tab(context, feature) for feature in features if feature.tab]
    tabs += [PlaceholderTab(context, problem.title, f"The feature {problem.origin} could not be loaded: {problem.reason}")
             for problem in features.problems]
    return tabs
