"""The Segment tab's state and commands, without Qt (the tab is a thin view over this).

Holds the chosen model, the live settings snapshot (``task.SegmentSettings``), what the
overlay shows (opacity, the classes switched off) and the newest result, and answers the
view's questions: the class and probability under a pixel (``probe``), the share of the
frame per class (``areas``). Events: ``task_changed`` (another model), ``settings_changed``
(a new snapshot), ``status`` and ``overlay_changed`` (opacity or class toggles: only a
repaint is needed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from engine.core.events import Controller, EventField
from engine.features.segment.catalog import VOC_CLASSES
from engine.features.segment.person import Background, read_background
from engine.features.segment.task import SegmentationTask, SegmentResult, SegmentSettings
from engine.models.catalog import CatalogEntry, catalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    """What is under one frame pixel (x, y): its class id and name, and that class's probability."""

    x: int
    y: int
    class_id: int
    name: str
    probability: float

    def text(self) -> str:
        return f"{self.name} {self.probability:.0%} at ({self.x}, {self.y})"


class SegmentController(Controller):
    """State of the Segment tab."""

    overlay_changed = EventField[None]("opacity or the shown classes changed: repaint, the task is unchanged")

    def __init__(self, weights_cache: Any = None, model: str | None = None) -> None:
        self.weights_cache = weights_cache
        entries = catalog().entries("segment")
        default = catalog().default("segment")
        names = [e.name for e in entries]
        self.model_name = model if model in names else (default.name if default else names[0])
        self.settings = SegmentSettings(short_side=320)  # live default: faster than 520
        self.opacity = 0.5
        self.hidden: set[int] = set()
        self.result: SegmentResult | None = None

    # -- the model ----------------------------------------------------------------------
    @property
    def entry(self) -> CatalogEntry:
        return catalog().get(self.model_name)

    def model_names(self) -> list[str]:
        return [e.name for e in catalog().entries("segment")]

    def installed(self) -> bool:
        from engine.models.cache import default_cache
        return (self.weights_cache or default_cache()).is_installed(self.entry)

    def set_model(self, name: str) -> None:
        catalog().get(name)  # UnknownModelError for a name the catalog lacks
        if name != self.model_name:
            self.model_name = name
            self.result = None
            self.task_changed.emit(None)

    def make_task(self) -> SegmentationTask | None:
        """The live task, or None (with a status line) when the weights are not installed."""
        if not self.installed():
            self.status.emit(f"{self.model_name} is not installed: download it in the model manager "
                             "(Models → Model manager…, Ctrl+M), or Import from file… there")
            return None
        return SegmentationTask(self.entry, self.settings, cache=self.weights_cache)

    # -- live settings -------------------------------------------------------------------
    def _set(self, settings: SegmentSettings) -> None:
        if settings != self.settings:
            self.settings = settings
            self.settings_changed.emit(None)

    def set_mode(self, mode: str) -> None:
        self._set(self.settings.with_(mode=mode))

    def set_short_side(self, side: int | None) -> None:
        self._set(self.settings.with_(short_side=side))

    def set_person_side(self, side: int) -> None:
        self._set(self.settings.with_(person_side=int(side)))

    def set_stabilise(self, on: bool) -> None:
        self._set(self.settings.with_(stabilise=bool(on)))

    def set_background(self, kind: str, *, image: str | None = None, colour: tuple[int, int, int] | None = None,
                       blur: float | None = None) -> None:
        """Another background; a picture is read first (BackgroundImageError: the old one stays)."""
        old = self.settings.background
        if kind == "image":
            image = image or old.image
            read_background(image)
        background = Background(kind=kind, image=image if kind == "image" else old.image,
                                colour=colour or old.colour, blur=blur or old.blur)
        self._set(self.settings.with_(background=background))

    # -- the overlay ---------------------------------------------------------------------
    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(1.0, max(0.0, float(opacity)))
        self.overlay_changed.emit(None)

    def set_class_shown(self, class_id: int, shown: bool) -> None:
        (self.hidden.discard if shown else self.hidden.add)(int(class_id))
        self.overlay_changed.emit(None)

    def visible_classes(self) -> list[int]:
        """Class ids drawn (background never is)."""
        return [i for i in range(1, len(VOC_CLASSES)) if i not in self.hidden]

    # -- results -------------------------------------------------------------------------
    def on_result(self, result: SegmentResult) -> None:
        self.result = result

    def probe(self, x: float, y: float) -> Probe | None:
        """The class and probability at frame pixel (x, y), or None without a label map there."""
        seg = self.result.segmentation if self.result is not None else None
        if seg is None:
            return None
        col, row = int(x), int(y)
        h, w = seg.labels.shape
        if not (0 <= col < w and 0 <= row < h):
            return None
        class_id = int(seg.labels[row, col])
        return Probe(col, row, class_id, seg.categories[class_id], float(seg.probability[row, col]))

    def areas(self, minimum: float = 0.001) -> list[tuple[int, str, float]]:
        """(class id, name, share of the frame 0..1) of the classes present, largest first."""
        seg = self.result.segmentation if self.result is not None else None
        if seg is None:
            return []
        shares = seg.fractions()
        found = [(i, seg.categories[i], float(s)) for i, s in enumerate(shares) if s >= minimum]
        return sorted(found, key=lambda item: -item[2])
