"""The user's own fast styles, kept in the weights cache as catalog entries.

A style trained in the app (or imported from a ``stylize train`` output) lives where any
installed model lives: ``<models dir>/<name>/<name>.pth`` with the cache's manifest, plus
``user-style.json`` ({"title", "style", "steps", ...}) that marks the folder as a user
style. ``user_style_entries`` turns those folders back into ``CatalogEntry`` objects with
the same builder and validator as the presets, so pickers, ``models list`` style code and
``stylize --model NAME`` treat them alike. Names: ``my-`` + lowercase letters, digits and
dashes.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path
from typing import Any

import torch

from engine.core.safe_files import atomic_write_json
from engine.models.cache import WeightsCache
from engine.models.catalog import CatalogEntry, ModelFile, catalog

log = logging.getLogger(__name__)

MARKER = "user-style.json"
PREFIX = "my-"


def slug(text: str) -> str:
    """A catalog name for a user style: ``my-`` + the title in lowercase letters, digits and dashes."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "style"
    base = base[len(PREFIX):] if base.startswith(PREFIX) else base
    return PREFIX + base[:40]


def user_entry(name: str, title: str, info: dict[str, Any] | None = None) -> CatalogEntry:
    from engine.features.style.catalog import PIXEL_RGB, build_fast, validate_fast_file
    from engine.features.style.transformer_net import num_params

    filename = f"{name}.pth"
    return CatalogEntry(
        name=name,
        task="style",
        title=title,
        files=(ModelFile(filename, ""),),
        license="yours",  # a licence name: where it comes from is ``source``
        source="trained in CNN Studio" + (f" on '{info['style']}'" if info and info.get("style") else ""),
        description="A fast style you trained" + (f" ({info['steps']} steps)" if info and info.get("steps") else "") + ".",
        transforms=PIXEL_RGB,
        meta={"num_params": num_params()},
        validator=functools.partial(validate_fast_file, stem=name),
        builder=functools.partial(build_fast, stem=name),
    )


def _read_marker(folder: Path) -> dict[str, Any] | None:
    from engine.core.regular_files import read_regular_text

    try:  # a regular file of at most 1 MB (a FIFO here would hang every model list)
        info = json.loads(read_regular_text(folder / MARKER, 1024 * 1024, what="style description"))
    except (OSError, ValueError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


def user_style_entries(cache: WeightsCache) -> list[CatalogEntry]:
    """Entries of the user styles installed in ``cache`` (sorted by name)."""
    out = []
    root = cache.root
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)):
        info = _read_marker(folder)
        if info is not None:
            out.append(user_entry(folder.name, str(info.get("title") or folder.name), info))
    return out


def find_user_style(cache: WeightsCache, name: str) -> CatalogEntry | None:
    folder = cache.root / name
    info = _read_marker(folder) if name.startswith(PREFIX) else None
    return user_entry(name, str(info.get("title") or name), info) if info is not None else None


def install_user_style(cache: WeightsCache, source: str | Path, title: str, info: dict[str, Any] | None = None,
                       *, replace: bool = False) -> CatalogEntry:
    """Install a TransformerNet ``.pth`` as the user style ``title``; returns its entry.

    The file is checked (FastStyleWeightsError names the first mismatching key) and copied
    atomically by the cache; the style is then added to the running catalog so pickers see it.
    """
    name = slug(title)
    if name in catalog() and not name.startswith(PREFIX):
        raise ValueError(f"'{name}' is a built-in model name; choose another title")
    folder = cache.root / name
    if folder.exists() and _read_marker(folder) is not None and not replace:
        raise ValueError(f"a style called '{name}' exists already; choose another title or replace it")
    meta = dict(info or {}, title=title)
    entry = user_entry(name, title, meta)
    cache.import_file(entry, source, force=True)
    atomic_write_json(folder / MARKER, meta, indent=1, sort_keys=True, default=str)
    if name not in catalog():
        catalog().add(entry)
    log.info("installed user style %s from %s", name, source)
    return entry


def save_user_style(cache: WeightsCache, state: dict[str, torch.Tensor], title: str,
                    info: dict[str, Any] | None = None, *, replace: bool = False) -> CatalogEntry:
    """Save a trained state_dict as the user style ``title`` (atomic; see ``install_user_style``)."""
    import tempfile

    from engine.features.style.fast_train import save_state

    with tempfile.TemporaryDirectory(dir=cache.root) as tmp:
        path = save_state(state, Path(tmp) / f"{slug(title)}.pth")
        return install_user_style(cache, path, title, info, replace=replace)
