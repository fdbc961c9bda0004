"""Instance models on one still picture (a paused frame or an opened photo), without Qt.

Mask R-CNN and Keypoint R-CNN take seconds per frame on a CPU, so the Segment tab never
runs them on the live feed: ``StillRunner.job(image, source)`` is a generator for the GUI's
job runner (each yielded value a progress line, the return value a ``StillResult``) that
builds the model once (kept for the next picture), runs it and times it. The result keeps
everything above torchvision's 0.05; the score threshold is applied when drawing, so moving
it needs no second run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.features.segment.instances import InstanceModel, Instances
from engine.models.catalog import CatalogEntry

#: Short sides offered for instance models (800 is the published weights' own).
STILL_SIDES = (320, 480, 640, 800)


@dataclass(frozen=True, eq=False)
class StillResult:
    """image: the picture (H, W, 3) uint8 BGR. instances: all of them (score >= 0.05).
    model: the entry's name. source: what the picture was ("paused frame", a file name).
    seconds: the network's time for it. min_size: the short side it ran at."""

    image: np.ndarray
    instances: Instances
    model: str
    source: str
    seconds: float
    min_size: int

    def picture(self, threshold: float) -> np.ndarray:
        """The picture with the instances scoring at least ``threshold`` drawn in."""
        from engine.features.segment.instance_render import draw_instances
        return draw_instances(self.image, self.instances.above(threshold))

    def summary(self, threshold: float) -> str:
        kept = self.instances.above(threshold)
        names = kept.names()
        counts = ", ".join(f"{n} x{names.count(n)}" for n in dict.fromkeys(names)) or "nothing"
        return (f"{self.model} on the {self.source}: {counts} (score >= {threshold:.2f}); "
                f"{self.seconds:.1f} s at short side {self.min_size} px")


class StillRunner:
    """Builds an instance model on first use (and again when another is chosen) and runs it on stills.

    cache: the weights cache (None: the default one). device: where it runs.
    """

    def __init__(self, cache: Any = None, device: Any = None) -> None:
        self.cache = cache
        self.device = device
        self._model: InstanceModel | None = None

    def job(self, entry: CatalogEntry, image: np.ndarray, source: str, min_size: int = 800) -> Iterator[str]:
        """Generator: progress lines, then (StopIteration value) the ``StillResult``."""
        if self._model is None or self._model.name != entry.name:
            yield f"Loading {entry.name}…"
            self._model = None
            self._model = entry.build(self.cache, self.device)
        model = self._model
        model.set_min_size(min_size)
        h, w = image.shape[:2]
        yield f"Running {entry.name} on the {source} ({w}x{h}, short side {min_size} px)…"
        start = time.perf_counter()
        instances = model.run(image)
        seconds = time.perf_counter() - start
        return StillResult(image, instances, entry.name, source, seconds, min_size)

    def release(self) -> None:
        self._model = None
