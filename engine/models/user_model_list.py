"""The list of the user's own detector models that Detect shows as ``my-<name>``, kept in
the settings store, below the features so that any feature may add to it (Teach adds the
detector it trained) without importing the Detect feature.

Key ``Detect/user_models``: a list of ``"path"`` or ``"path|names path"`` strings, oldest
first; Detect reads it when it starts and turns each into an entry.
"""

from __future__ import annotations

from engine.core.store import SettingsStore

STORE_KEY = "Detect/user_models"


def _encode(path: str, names_path: str | None) -> str:
    return f"{path}|{names_path}" if names_path else path


def saved(store: SettingsStore) -> list[tuple[str, str | None]]:
    """The remembered models: (path, names path or None), oldest first."""
    items = store.get(STORE_KEY, [], lambda v: all(isinstance(s, str) for s in v))
    out = []
    for item in items:
        path, _, names = item.partition("|")
        out.append((path, names or None))
    return out


def remember_path(store: SettingsStore, path: str, names_path: str | None = None) -> None:
    """Add ``path`` to the remembered models (once: an earlier entry of it is replaced)."""
    items = [_encode(p, n) for p, n in saved(store) if p != path]
    store.set(STORE_KEY, items + [_encode(path, names_path)])


def forget(store: SettingsStore, paths: list[str]) -> None:
    """Drop ``paths`` from the remembered models."""
    store.set(STORE_KEY, [_encode(p, n) for p, n in saved(store) if p not in paths])
