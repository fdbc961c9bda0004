"""The model catalog: every pretrained model the app can use, described as data.

Entries live next to the code that uses them (``engine/features/<key>/catalog.py``, each
exporting ``ENTRIES``). This module sits below the features and never imports them: the
feature registry (``engine.features.registry``) installs itself as the catalog's
*provider* when ``engine.features`` is imported, and :func:`catalog` asks that provider
once for the task keys (one per feature) and the entries. GUI pickers and the ``models``
CLI are built from the catalog, never from hard-coded lists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from engine.core.errors import NotFound

log = logging.getLogger(__name__)


class CatalogNotReadyError(RuntimeError):
    """``catalog()`` was called before any provider was installed."""


class UnknownModelError(NotFound, KeyError):
    """A model name that does not exist; the message lists the known names.

    Also a KeyError (a failed look-up), printed without KeyError's quotes.
    """


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

    task: the key of the feature that uses it (``known_tasks()``). transforms: the preprocessing the model expects (a
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
    """A set of entries with unique names.

    tasks: the task keys an entry may carry (None: any). problems: one line per set of
    entries the provider had to leave out (a feature whose catalog failed to load).
    """

    def __init__(self, entries: Iterable[CatalogEntry] = (), tasks: Iterable[str] | None = None,
                 problems: Iterable[str] = ()) -> None:
        self._entries: dict[str, CatalogEntry] = {}
        self.tasks: tuple[str, ...] | None = None if tasks is None else tuple(tasks)
        self.problems: tuple[str, ...] = tuple(problems)
        for entry in entries:
            self.add(entry)

    def add(self, entry: CatalogEntry) -> None:
        if entry.name in self._entries:
            raise ValueError(f"catalog entry '{entry.name}' is defined twice")
        if self.tasks is not None and entry.task not in self.tasks:
            raise ValueError(f"catalog entry '{entry.name}' has unknown task '{entry.task}' (known: {', '.join(self.tasks)})")
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


@dataclass(frozen=True)
class CatalogContents:
    """What a provider hands the catalog.

    tasks: the task keys entries may carry, in display order (the features' keys).
    entries: every entry, in display order. problems: a line for each set of entries
    that could not be loaded (shown by ``models list``, logged by the provider).
    """

    tasks: tuple[str, ...]
    entries: tuple[CatalogEntry, ...]
    problems: tuple[str, ...] = ()


#: Returns the catalog's contents; called once, on the first ``catalog()``.
CatalogProvider = Callable[[], CatalogContents]

_PROVIDER: CatalogProvider | None = None
_CATALOG: Catalog | None = None


def use_provider(provider: CatalogProvider) -> None:
    """Make ``provider`` the source of :func:`catalog` (the one built so far is dropped).

    The feature registry calls this when ``engine.features`` is imported, and again when
    it is reloaded; this module never imports the features itself (it is a layer below).
    """
    global _PROVIDER, _CATALOG
    _PROVIDER = provider
    _CATALOG = None


def catalog() -> Catalog:
    """The app's catalog, gathered once from the installed provider.

    Raises CatalogNotReadyError when no provider is installed: import ``engine.features``
    first (main.py, the GUI, the tests and every feature module do).
    """
    global _CATALOG
    if _CATALOG is None:
        if _PROVIDER is None:
            raise CatalogNotReadyError("the model catalog has no provider yet: import engine.features first "
                                       "(it installs the feature registry as the catalog's provider)")
        contents = _PROVIDER()
        _CATALOG = Catalog(contents.entries, tasks=contents.tasks, problems=contents.problems)
    return _CATALOG


def known_tasks() -> tuple[str, ...]:
    """The task keys of the catalog (one per feature), in the features' order."""
    tasks = catalog().tasks
    return tasks if tasks is not None else ()
