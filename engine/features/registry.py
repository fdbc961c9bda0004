"""The feature registry: each feature (its models, live task, tab and commands) declared once.

A feature package declares one ``FEATURE = Feature(...)`` in its ``__init__.py``. The
registry finds features in three places, in this order:

1. built in: every subpackage of ``engine.features`` (found with pkgutil, so a new
   package needs no list to be edited);
2. installed plugins: the entry points of the group ``cnn_studio.features``; each names
   a module that defines ``FEATURE``, or the Feature object itself;
3. ``$CNN_STUDIO_FEATURES``: comma-separated importable module names that define
   ``FEATURE`` (a plugin on ``PYTHONPATH`` needs no installation).

Generated from it: the catalog's task keys and entries (the registry is the provider of
``engine.models.catalog``), the GUI's tab bar, its order and the Ctrl+N shortcuts and
Help rows (gui/shell/tabs.py, gui/shell/menus.py), the CLI subcommands and the
``models list --task`` choices (cli/), and the models of other features that the
Feature maps tab can open (``inspectables``).

Code is named by strings ("package.module:Attribute"), resolved only when used, so
discovery imports no torch and no Qt, and the engine never imports the GUI (the GUI
resolves ``tab`` itself). A feature that cannot be loaded (its module fails to import,
it has no valid FEATURE, or its key is taken) is left out with a logged reason and kept
in ``Registry.problems``; the GUI shows a placeholder tab for each.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

from engine.core.errors import BadFormat, NotFound
from engine.models.catalog import CatalogContents, CatalogEntry, use_provider

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "cnn_studio.features"
FEATURES_ENV = "CNN_STUDIO_FEATURES"
BUILTIN_PACKAGE = "engine.features"

_KEY = re.compile(r"[a-z][a-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class FeatureError(BadFormat, ValueError):
    """A feature declaration that is invalid, or code it names that cannot be loaded."""


class UnknownFeatureError(NotFound, KeyError):
    """A feature key that is not registered; the message lists the known keys."""


def resolve(ref: str) -> Any:
    """The object ``ref`` ("package.module:Attr.attr") names; FeatureError says what failed."""
    if not _REF.fullmatch(ref):
        raise FeatureError(f"'{ref}' is not a 'package.module:Attribute' reference")
    module_name, _, path = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # any import failure: a missing dependency, a syntax error, ...
        raise FeatureError(f"'{ref}': module {module_name} failed to import ({type(exc).__name__}: {exc})") from exc
    for part in path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FeatureError(f"'{ref}': {module_name} has no attribute '{path}'") from None
    return target


@dataclass(frozen=True)
class Feature:
    """One feature of the app, declared once by its package as ``FEATURE``.

    key: lower-case identifier ("detect"); also the catalog task of its models, the
    ``models list --task`` value and the name its settings live under.
    title: the tab's title ("Feature maps"). order: position in the tab bar and in
    ``--help`` (ascending, ties by key); the built-ins use 10, 20, ... 50.
    catalog: its models: a module exporting ``ENTRIES`` ("engine.features.detect.catalog"),
    a "module:attr" naming a list of CatalogEntry or a function returning one, or such a
    function itself; None when it has no downloadable models.
    task: the live Task its tab runs ("module:Class"; for a feature with several kinds of
    live task, their common base). tab: the GUI tab, a StudioTab subclass ("module:Class";
    resolved by the GUI only, the engine never imports it). cli: modules that each add one
    subcommand (``register(subparsers)`` and ``run(args) -> int``), in ``--help`` order.
    inspectables: "module:function" references, each returning a
    ``engine.models.inspectable.ModelSpec`` (or None when it cannot be built here): the
    feature's networks, offered by the Feature maps tab. summary: a few words for About.
    origin: the module the declaration came from (filled in by the registry).
    """

    key: str
    title: str
    order: int = 100
    catalog: str | Callable[[], Iterable[CatalogEntry]] | None = None
    task: str | None = None
    tab: str | None = None
    cli: tuple[str, ...] = ()
    inspectables: tuple[str, ...] = ()
    summary: str = ""
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY.fullmatch(self.key):
            raise FeatureError(f"feature key {self.key!r} must be a lower-case identifier such as 'detect'")
        if not isinstance(self.title, str) or not self.title.strip():
            raise FeatureError(f"feature '{self.key}' needs a title (the tab's name)")
        if not isinstance(self.order, int) or isinstance(self.order, bool):
            raise FeatureError(f"feature '{self.key}': order must be an int, not {self.order!r}")
        for name in ("cli", "inspectables"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (tuple, list)):
                raise FeatureError(f"feature '{self.key}': {name} must be a tuple of strings, not {value!r}")
            object.__setattr__(self, name, tuple(value))
        for module in self.cli:
            if not isinstance(module, str) or not _MODULE.fullmatch(module):
                raise FeatureError(f"feature '{self.key}': cli module {module!r} is not a module name")
        refs = [("task", self.task), ("tab", self.tab)] + [("inspectables", ref) for ref in self.inspectables]
        for name, ref in refs:
            if ref is not None and (not isinstance(ref, str) or not _REF.fullmatch(ref)):
                raise FeatureError(f"feature '{self.key}': {name} {ref!r} must be a 'package.module:Attribute' string")
        catalog = self.catalog
        if catalog is not None and not callable(catalog) and not (
                isinstance(catalog, str) and (_MODULE.fullmatch(catalog) or _REF.fullmatch(catalog))):
            raise FeatureError(f"feature '{self.key}': catalog {catalog!r} must be a module name, "
                               "a 'module:attr' string or a function")

    def load(self, name: str) -> Any:
        """Resolve the reference in field ``name`` ("task" or "tab"); FeatureError names the feature."""
        if name not in ("task", "tab"):
            raise ValueError(f"only 'task' and 'tab' are loaded this way, not {name!r}")
        ref = getattr(self, name)
        if ref is None:
            raise FeatureError(f"feature '{self.key}' declares no {name}")
        try:
            return resolve(ref)
        except FeatureError as exc:
            raise FeatureError(f"feature '{self.key}': {name} {exc}") from exc.__cause__

    def catalog_entries(self) -> list[CatalogEntry]:
        """This feature's catalog entries (imports its catalog); FeatureError when they cannot be loaded."""
        source = self.catalog
        if source is None:
            return []
        try:
            if callable(source):
                found = source()
            elif ":" in source:
                found = resolve(source)
                found = found() if callable(found) else found
            else:
                found = getattr(importlib.import_module(source), "ENTRIES", None)
                if found is None:
                    raise FeatureError(f"module {source} has no ENTRIES list")
            entries = list(found)
        except FeatureError as exc:
            raise FeatureError(f"feature '{self.key}': catalog {exc}") from exc
        except Exception as exc:  # a catalog module that fails to import or to build its entries
            raise FeatureError(f"feature '{self.key}': catalog {source!r} failed ({type(exc).__name__}: {exc})") from exc
        for entry in entries:
            if not isinstance(entry, CatalogEntry):
                raise FeatureError(f"feature '{self.key}': its catalog holds {entry!r}, not a CatalogEntry")
        return entries


@dataclass(frozen=True)
class FeatureProblem:
    """A feature that was left out. origin: the module or entry point it came from;
    title: what to call it (its title when known, else ``origin``); reason: why."""

    origin: str
    title: str
    reason: str
    key: str | None = None


@dataclass(frozen=True)
class Registry:
    """The features found, in tab order, and the ones left out."""

    features: tuple[Feature, ...]
    problems: tuple[FeatureProblem, ...] = ()

    def __iter__(self):
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.features)

    def get(self, key: str) -> Feature:
        for feature in self.features:
            if feature.key == key:
                return feature
        raise UnknownFeatureError(f"no feature called '{key}' (known: {', '.join(self.keys()) or 'none'})")

    def with_catalog(self) -> tuple[Feature, ...]:
        """The features that declare models (the ``models list --task`` choices)."""
        return tuple(f for f in self.features if f.catalog is not None)


def _feature_of(module_name: str, obj: Any = None) -> Feature:
    """The Feature declared by ``module_name`` (or ``obj``, an entry point's loaded value)."""
    if obj is None:
        try:
            obj = importlib.import_module(module_name)
        except Exception as exc:
            raise FeatureError(f"{module_name} failed to import ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, Feature):
        declared = getattr(obj, "FEATURE", None)
        if declared is None:
            raise FeatureError(f"{module_name} defines no FEATURE")
        obj = declared
    if not isinstance(obj, Feature):
        raise FeatureError(f"{module_name}.FEATURE is a {type(obj).__name__}, not a Feature")
    return replace(obj, origin=module_name) if not obj.origin else obj


def _builtin_modules() -> list[str]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return sorted(f"{BUILTIN_PACKAGE}.{info.name}" for info in pkgutil.iter_modules(package.__path__) if info.ispkg)


def _entry_points() -> list[metadata.EntryPoint]:
    try:
        return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    except Exception:  # a broken distribution's metadata must not stop the app
        log.warning("entry points of %s could not be read", ENTRY_POINT_GROUP, exc_info=True)
        return []


def _env_modules(env: Mapping[str, str]) -> list[str]:
    return [name.strip() for name in env.get(FEATURES_ENV, "").split(",") if name.strip()]


def discover(env: Mapping[str, str] | None = None) -> Registry:
    """Find every feature (built in, entry points, ``$CNN_STUDIO_FEATURES`` of ``env``).

    Imports only the declaring modules. Never raises for a bad feature: it is left out,
    logged and listed in ``problems``.
    """
    env = os.environ if env is None else env
    found: list[Feature] = []
    problems: list[FeatureProblem] = []
    seen_origins: set[str] = set()

    def add(origin: str, name: str, load: Callable[[], Feature]) -> None:
        if origin in seen_origins:
            return  # the same module named twice (an entry point and the variable)
        seen_origins.add(origin)
        try:
            feature = load()
        except Exception as exc:  # FeatureError, or an entry point that fails to load
            reason = str(exc) if isinstance(exc, FeatureError) else f"{type(exc).__name__}: {exc}"
            log.error("feature %s left out: %s", origin, reason)
            problems.append(FeatureProblem(origin, name, reason))
            return
        taken = next((f for f in found if f.key == feature.key), None)
        if taken is not None:
            reason = f"its key '{feature.key}' is already used by {taken.origin}"
            log.error("feature %s left out: %s", origin, reason)
            problems.append(FeatureProblem(origin, f"{feature.title} ({origin})", reason, feature.key))
            return
        found.append(feature)

    for module_name in _builtin_modules():
        add(module_name, module_name.rsplit(".", 1)[-1], lambda m=module_name: _feature_of(m))
    for ep in _entry_points():
        module_name = ep.value.split(":")[0].strip()
        add(module_name, ep.name, lambda ep=ep, m=module_name: _feature_of(m, ep.load()))
    for module_name in _env_modules(env):
        add(module_name, module_name.rsplit(".", 1)[-1], lambda m=module_name: _feature_of(m))
    found.sort(key=lambda f: (f.order, f.key))
    return Registry(tuple(found), tuple(problems))


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The app's features, discovered once per process (see :func:`reload`)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = discover()
    return _REGISTRY


def features() -> tuple[Feature, ...]:
    """The registered features in tab order."""
    return registry().features


def reload(env: Mapping[str, str] | None = None) -> Registry:
    """Discover the features again (after ``$CNN_STUDIO_FEATURES`` or ``sys.path`` changed);
    the catalog is gathered again on its next use."""
    global _REGISTRY
    _REGISTRY = discover(env)
    use_provider(catalog_contents)
    return _REGISTRY


def catalog_contents() -> CatalogContents:
    """The catalog's provider: every feature's key and the entries of those whose catalog loads.

    A feature whose catalog fails, holds something else than entries, uses a task key
    that no feature has, or repeats a name already taken is left out whole (logged, and
    listed in ``problems``), so one broken plugin cannot empty the catalog.
    """
    reg = registry()
    tasks = reg.keys()
    entries: list[CatalogEntry] = []
    names: set[str] = set()
    problems: list[str] = []
    for feature in reg.with_catalog():
        try:
            own = feature.catalog_entries()
            own_names: set[str] = set()
            for entry in own:
                if entry.task not in tasks:
                    raise FeatureError(f"feature '{feature.key}': entry '{entry.name}' has task '{entry.task}', "
                                       f"which is no feature's key ({', '.join(tasks)})")
                if entry.name in names or entry.name in own_names:
                    raise FeatureError(f"feature '{feature.key}': entry name '{entry.name}' is already taken")
                own_names.add(entry.name)
        except FeatureError as exc:
            log.error("models left out: %s", exc)
            problems.append(f"models left out: {exc}")
            continue
        entries.extend(own)
        names.update(e.name for e in own)
    return CatalogContents(tasks, tuple(entries), tuple(problems))


def inspectable_refs() -> list[tuple[Feature, str]]:
    """(feature, "module:function") of every declared inspectable model, in feature order."""
    return [(feature, ref) for feature in features() for ref in feature.inspectables]


def install_catalog_provider() -> None:
    """Make this registry the model catalog's provider (``engine.features`` does it on import)."""
    use_provider(catalog_contents)
