"""The model catalog: every pretrained model the app can use, described as data.

Entries live next to the code that uses them (``engine/<feature>/catalog.py``, each
exporting ``ENTRIES``); this module gathers them. GUI pickers and the ``models`` CLI
are built from the catalog, never from hard-coded lists.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

log = logging.getLogger(__name__)

TASKS = ("detect", "faces", "style", "inspect", "teach")
_FEATURE_CATALOGS = ("engine.features.detect.catalog", "engine.features.faces.catalog", "engine.features.style.catalog", "engine.features.inspect.catalog",
                     "engine.features.teach.catalog")


class UnknownModelError(KeyError):
    """A catalog name that does not exist; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else "unknown model"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model.

    filename: the name it is stored under in the cache. url: where to download it.
    size: bytes, if known. sha256: hex digest, if known; when None the digest is
    recorded on first download (or import) and checked from then on.
    """

    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Transforms:
    """How a frame (uint8 BGR, (H, W, 3)) becomes the model's input; read by the code that preprocesses.

    size: (width, height) in pixels the model takes, or None when it takes any size.
    resize: "stretch" (ignore aspect), "letterbox" (fit and pad) or "crop" (resize the
    short side, centre crop). colour: channel order the model expects, "RGB", "BGR" or
    "GRAY". scale: factor applied to 0..255 values before ``mean``/``std``
    (value = (pixel * scale - mean) / std, per channel in ``colour`` order).
    """

    size: tuple[int, int] | None = None
    resize: str = "stretch"
    colour: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class CatalogEntry:
    """A model the app knows how to download, verify, build and load: executable data.

    task: one of ``TASKS``. transforms: the preprocessing the model expects (a
    ``Transforms``), read by the preprocessing code, never re-stated elsewhere. meta:
    facts about the model, documented keys:
        categories (tuple[str, ...]): class names, index = class id;
        metric ("euclidean" | "cosine"), threshold (float, distance): for embedders;
        embedding_dim (int); num_params (int); accuracy (dict: benchmark -> value).
    builder: ``builder(entry, cache, device)`` returns the ready-to-run model object
    (an nn.Module or a wrapper) from the installed files; the only place that knows how
    to build this model, so nothing dispatches on strings. validator: called with the
    installed path of each file after download or import; raises ValueError with a
    user-facing message when the file cannot be this model's (wrong size for a cfg,
    wrong state_dict keys). preprocessing/extra: older free-form fields, being replaced
    by ``transforms``/``meta``/``builder``.
    """

    name: str
    task: str
    title: str
    files: tuple[ModelFile, ...]
    license: str
    source: str
    description: str = ""
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    default: bool = False
    validator: Callable[[Path], None] | None = field(default=None, compare=False, repr=False)
    transforms: Transforms | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    builder: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def build(self, cache: Any = None, device: Any = None) -> Any:
        """The model object, built from the installed files by this entry's ``builder``."""
        if self.builder is None:
            raise ValueError(f"{self.name} has no builder")
        return self.builder(self, cache, device)

    @property
    def size(self) -> int | None:
        """Total bytes of all files, or None if any size is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def file(self, filename: str | None = None) -> ModelFile:
        """The file called ``filename`` (the first file when None)."""
        if not self.files:
            raise ValueError(f"{self.name} has no files")
        if filename is None:
            return self.files[0]
        for f in self.files:
            if f.filename == filename:
                return f
        raise ValueError(f"{self.name} has no file '{filename}' (its files: {', '.join(f.filename for f in self.files)})")


class Catalog:
    """A set of entries with unique names."""

    def __init__(self, entries: Iterable[CatalogEntry] = ()) -> None:
        self._entries: dict[str, CatalogEntry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: CatalogEntry) -> None:
        if entry.name in self._entries:
            raise ValueError(f"catalog entry '{entry.name}' is defined twice")
        if entry.task not in TASKS:
            raise ValueError(f"catalog entry '{entry.name}' has unknown task '{entry.task}'")
        self._entries[entry.name] = entry

    def get(self, name: str) -> CatalogEntry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownModelError(f"no model called '{name}' in the catalog (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self, task: str | None = None) -> list[CatalogEntry]:
        """Entries (of ``task`` if given) in definition order."""
        return [e for e in self._entries.values() if task is None or e.task == task]

    def default(self, task: str) -> CatalogEntry | None:
        """The entry marked default for ``task`` (else its first entry, else None)."""
        candidates = self.entries(task)
        for entry in candidates:
            if entry.default:
                return entry
        return candidates[0] if candidates else None


_CATALOG: Catalog | None = None


def catalog() -> Catalog:
    """The built-in catalog, gathered once from the feature packages."""
    global _CATALOG
    if _CATALOG is None:
        entries: list[CatalogEntry] = []
        for module_name in _FEATURE_CATALOGS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    log.debug("%s not present; its models are not listed", module_name)
                    continue
                raise
            entries.extend(getattr(module, "ENTRIES", []))
        _CATALOG = Catalog(entries)
    return _CATALOG
