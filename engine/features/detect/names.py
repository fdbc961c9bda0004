"""Class-name files: one name per line (Darknet's .names format)."""

from __future__ import annotations

from pathlib import Path

from engine.core.errors import UserError
from engine.core.paths import resources_dir

# resources/ sits next to engine/ both in the repository and when installed.
_DARKNET_RESOURCES = resources_dir() / "darknet"


class NamesError(UserError, ValueError):
    """A names file is missing or does not fit the model; the message says what to do."""


def read_names(path: str | Path, expected: int | None = None) -> tuple[str, ...]:
    """Class names from ``path``, in class-index order; blank lines at the end are ignored.

    ``expected``: the model's class count; a different count raises NamesError, because
    every label after the first mismatch would be wrong.
    """
    from engine.core import limits
    from engine.core.regular_files import MissingFileError, RegularFileError, read_regular_bytes

    path = Path(path)
    try:
        text = read_regular_bytes(path, limits.current().max_cfg_bytes, what="names file",
                                  hint=limits.current().hint("max_cfg_bytes")).decode("utf-8", errors="replace")
    except RegularFileError as exc:
        raise (NamesError(f"names file not found: {path}") if isinstance(exc, MissingFileError) else NamesError(exc.what, exc.todo)) from None
    names = tuple(line.strip() for line in text.splitlines())
    while names and not names[-1]:
        names = names[:-1]
    if expected is not None and len(names) != expected:
        raise NamesError(f"names file {path} lists {len(names)} classes, but the model predicts {expected}; "
                         "use the names file the model was trained with (one class per line)")
    return names


def bundled_path(filename: str) -> Path:
    """Path of a file shipped in resources/darknet (cfgs, coco.names, LICENSE)."""
    return _DARKNET_RESOURCES / filename


def coco_names() -> tuple[str, ...]:
    """The 80 COCO class names in Darknet's order."""
    return read_names(bundled_path("coco.names"), expected=80)


def coco91_names() -> tuple[str, ...]:
    """torchvision's COCO category list: 91 entries, "__background__" first (ids as its models emit them)."""
    return read_names(resources_dir() / "detection" / "coco91.names", expected=91)
