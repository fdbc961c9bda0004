"""A folder of images as a slideshow source (each image a new scene)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.core.errors import SourceError
from engine.io.base import FrameSource
from engine.io.images import IMAGE_SUFFIXES, list_images, read_image


class FolderSource(FrameSource):
    """A folder of images shown as a slideshow: each image for ``seconds_per_image``.

    Files that fail to decode are skipped with a "skipped" event naming them.
    loop: start again after the last image instead of ending.
    """

    kind = "folder"

    def __init__(self, path: str | os.PathLike[str], seconds_per_image: float = 2.0, fps: float = 15.0, loop: bool = True) -> None:
        self.path = Path(path)
        super().__init__(self.path.name or str(self.path), fps=fps, pace=True)
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: not a folder")
        self.files = list_images(self.path)
        if not self.files:
            raise SourceError(f"{self.path}: the folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.loop = loop
        self.repeats = max(1, int(round(seconds_per_image * self.fps)))
        self._position = -1
        self._current: np.ndarray | None = None
        self._shown = 0

    def _open(self) -> None:
        pass

    def _advance(self) -> np.ndarray | None:
        tried = 0
        while tried < len(self.files):
            self._position += 1
            if self._position >= len(self.files):
                if not self.loop:
                    return None
                self._position = 0
            tried += 1
            try:
                return read_image(self.files[self._position])
            except SourceError as exc:
                self._emit("skipped", str(exc))
        raise SourceError(f"{self.path}: none of the {len(self.files)} images could be read")

    def _read(self) -> np.ndarray | None:
        if self._current is None or self._shown >= self.repeats:
            self._current = self._advance()
            self._shown = 0
            self._scene += 1
            if self._current is None:
                return None
        self._shown += 1
        return self._current
