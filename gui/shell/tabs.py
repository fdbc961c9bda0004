"""The four feature tabs, loaded defensively so one broken tab cannot take the app down."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from gui.common.tab_base import StudioTab
from gui.common.placeholder_tab import PlaceholderTab

if TYPE_CHECKING:
    from gui.common.context import AppContext

log = logging.getLogger(__name__)

#: (module, class name, title) in the order the tabs appear (Ctrl+1 .. Ctrl+4).
TAB_SPECS: tuple[tuple[str, str, str], ...] = (
    ("gui.features.detect.tab", "DetectTab", "Detect"),
    ("gui.features.faces.tab", "FacesTab", "Faces"),
    ("gui.features.style.tab", "StyleTab", "Style"),
    ("gui.features.inspect.tab", "FeaturesTab", "Feature maps"),
    ("gui.features.teach.tab", "TeachTab", "Teach"),
)


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
    try:
        tab = getattr(module, class_name)(context)
    except Exception as exc:
        log.exception("tab %s could not be created", title)
        return PlaceholderTab(context, title, f"{class_name} could not be created: {type(exc).__name__}: {exc}")
    if not isinstance(tab, StudioTab):
        log.error("%s.%s is not a StudioTab", module_name, class_name)
        return PlaceholderTab(context, title, f"{class_name} is not a StudioTab.")
    return tab


def load_tabs(context: "AppContext") -> list[StudioTab]:
    """The four tabs in order: Detect, Faces, Style, Feature maps (placeholders where needed)."""
    return [load_tab(context, module, cls, title) for module, cls, title in TAB_SPECS]
