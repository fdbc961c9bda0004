"""Engine jobs of the Faces feature, shared by the CLI and the GUI: generators that yield
``JobProgress`` and return their result (``StopIteration.value``; ``run_job`` collects it).

- ``enrol_from_files``: read photos, check every one has exactly one face, enrol them;
- ``enrol_from_chips``: enrol the shots of a guided capture;
- ``reembed_gallery``: compute the current embedder's vectors from the stored thumbnails.

A caller cancels by stopping iteration between steps (a GUI job checks its cancel flag
on each progress item); nothing is written before every photo has been checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobProgress:
    """done of total steps; ``message`` says what is happening."""

    done: int
    total: int
    message: str = ""


def run_job(job: Generator[JobProgress, None, Any], on_progress: Callable[[JobProgress], None] | None = None) -> Any:
    """Drive ``job`` to the end and return its result."""
    while True:
        try:
            step = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(step)


def enrol_from_files(recognizer, name: str, paths: Sequence[str], add_to_existing: bool = False,
                     lock=None) -> Generator[JobProgress, None, Any]:
    """Enrol ``name`` from photo files (one face each) -> the Person.

    ``lock`` (optional): held around each use of the recogniser's models, so a live task
    sharing them is never run at the same time.
    """
    from engine.io.sources import read_image

    guard = lock if lock is not None else nullcontext()
    total = len(paths) + 1
    images = []
    for i, path in enumerate(paths):
        yield JobProgress(i, total, f"reading {path}")
        images.append((str(path), read_image(path)))
    yield JobProgress(len(paths), total, f"detecting and embedding {len(images)} photo(s)")
    with guard:
        person = recognizer.enrol(name, images, add_to_existing)
    yield JobProgress(total, total, f"enrolled {person.name}")
    return person


def enrol_from_chips(recognizer, name: str, chips, add_to_existing: bool = False,
                     lock=None) -> Generator[JobProgress, None, Any]:
    """Enrol the aligned chips of a guided capture -> the Person."""
    guard = lock if lock is not None else nullcontext()
    yield JobProgress(0, 1, f"embedding {len(chips)} shot(s)")
    with guard:
        person = recognizer.enrol_chips(name, list(chips), add_to_existing)
    yield JobProgress(1, 1, f"enrolled {person.name}")
    return person


def reembed_gallery(gallery, embedder, lock=None, batch: int = 16) -> Generator[JobProgress, None, int]:
    """Vectors of ``embedder`` for every shot that lacks them -> how many were computed."""
    from engine.features.faces.recognizer import reembed

    guard = lock if lock is not None else nullcontext()
    total = 0
    steps = reembed(gallery, embedder, batch)
    while True:
        with guard:
            try:
                done, total = next(steps)
            except StopIteration:
                break
        yield JobProgress(done, total, f"re-embedding with {embedder.name}")
    return total
