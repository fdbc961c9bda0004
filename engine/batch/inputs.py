"""The units of a batch run: one image or one video file each, found from folders, globs and files.

A unit is the smallest piece of work that is committed (or retried) as a whole, so its
results appear exactly once in the output. Folders are walked recursively (sorted, so
two runs list the same inputs in the same order); globs are expanded by Python's
``glob`` with ``**`` allowed; a named file is taken whatever its suffix (the worker says
why it cannot be read), while files found inside folders count only when their suffix is
an image's or a video's.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import NotFound, SourceError
from engine.core.frame import Frame
from engine.io.images import IMAGE_SUFFIXES
from engine.io.video import VIDEO_SUFFIXES, video_fps

_GLOB_CHARS = set("*?[")


class NoInputsError(NotFound, ValueError):
    """An INPUT that names nothing (a missing path, a glob without matches, an empty folder)."""


@dataclass(frozen=True)
class BatchInput:
    """One unit of work. path: the absolute path (the ``source`` column of every row);
    key: a stable 24-hex-digit name for its committed results, derived from ``path``."""

    path: str

    @property
    def key(self) -> str:
        return hashlib.sha256(os.fsencode(self.path)).hexdigest()[:24]


def _media(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES


def _walk(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / name for name in sorted(files) if not name.startswith(".") and _media(Path(name)))
    return found


def expand_inputs(specs: list[str]) -> list[BatchInput]:
    """Every unit named by ``specs`` (files, folders, glob patterns), without repeats, in order.

    Raises NoInputsError naming the first spec that gives nothing.
    """
    seen: set[str] = set()
    units: list[BatchInput] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            files = _walk(path)
            if not files:
                raise NoInputsError(f"{spec}: the folder holds no images or videos",
                                    "give a folder with image or video files in it")
        elif path.exists():
            files = [path]
        elif _GLOB_CHARS & set(spec):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(spec), recursive=True))
            files = [p for p in matches if p.is_file()] + [f for p in matches if p.is_dir() for f in _walk(p)]
            if not files:
                raise NoInputsError(f"{spec}: the pattern matches no files", "check the pattern (quote it so the shell does not expand it)")
        else:
            raise NoInputsError(f"{spec}: no such file or folder", "give image or video files, folders or glob patterns")
        for file in files:
            absolute = os.path.abspath(file)
            if absolute not in seen:
                seen.add(absolute)
                units.append(BatchInput(absolute))
    return units


def frames_of(path: str, every: int = 1) -> tuple[Iterator[Frame], float | None]:
    """The frames of one input to process (every ``every``-th), and the video's nominal
    frame rate (30 when the file does not say; None for a picture), as `detect` takes it.

    SourceError when ``path`` is neither an image nor a video file."""
    from engine.io import classify, iter_frames

    kind = classify(path)
    if kind not in ("image", "video"):
        raise SourceError(f"{path}: not an image or a video file")
    fps = video_fps(path) if kind == "video" else None
    return (f for f in iter_frames(path) if f.index % every == 0), fps
