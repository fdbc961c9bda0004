"""One still image as a live source (the same picture, again and again)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.io.base import FrameSource
from engine.io.images import read_image


class ImageSource(FrameSource):
    """One still image, delivered repeatedly at ``fps`` so live tasks keep running on it.

    The same array is delivered each time (no copies); consumers must not modify it.
    """

    kind = "image"

    def __init__(self, path: str | os.PathLike[str], fps: float = 15.0) -> None:
        self.path = Path(path)
        super().__init__(self.path.name, fps=fps, pace=True)
        self.image = read_image(self.path)
        self.image.setflags(write=False)

    def _open(self) -> None:
        pass

    def _read(self) -> np.ndarray:
        return self.image
