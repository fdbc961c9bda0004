"""The Segment tab's state and commands, without Qt (the tab is a thin view over this).

Holds the chosen model, the live settings snapshot (``task.SegmentSettings``), what the
overlay shows (opacity, the classes switched off) and the newest result, and answers the
view's questions: the class and probability under a pixel (``probe``), the share of the
frame per class (``areas``). Events: ``task_changed`` (another model), ``settings_changed``
(a new snapshot), ``status`` and ``overlay_changed`` (opacity or class toggles: only a
repaint is needed), ``still_changed`` (an instance result arrived or was cleared).

Instance models (Mask R-CNN, Keypoint R-CNN) take seconds per frame on a CPU: with one
chosen there is no live task (``make_task`` says why); ``still_job`` runs it on one picture
(the paused frame or a photo) and ``on_still`` keeps the ``still.StillResult`` that the
view shows instead of the feed until ``clear_still``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.core.events import Controller, EventField
from engine.features.segment.catalog import VOC_CLASSES
from engine.features.segment.person import Background, read_background
from engine.features.segment.still import StillResult, StillRunner
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
    still_changed = EventField[None]("an instance result on a still picture arrived, was redrawn or was cleared")

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
        self.still: StillResult | None = None
        self.score = 0.5
        self.still_side = 800
        self._still_picture: np.ndarray | None = None
        self._runner = StillRunner(weights_cache)

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
            self.clear_still()
            if self.settings.cam_layer is not None:  # another network's module names
                self._set(self.settings.with_(cam_layer=None))
            self.task_changed.emit(None)

    @property
    def is_instances(self) -> bool:
        """True for Mask R-CNN / Keypoint R-CNN: run on a still, never per live frame."""
        return self.entry.meta.get("kind") == "instances"

    def make_task(self) -> SegmentationTask | None:
        """The live task, or None (with a status line) when the weights are not installed
        or the model is an instance model (too slow for live: stills only)."""
        if self.is_instances:
            self.status.emit(f"{self.model_name} takes seconds per frame on a CPU, too slow for live video: "
                             "press Run on this frame (it pauses on the frame) or Open photo…")
            return None
        if not self.installed():
            self.status.emit(f"{self.model_name} is not installed: download it in the model manager "
                             "(Models → Model manager…, Ctrl+M), or Import from file… there")
            return None
        return SegmentationTask(self.entry, self.settings, cache=self.weights_cache)

    # -- instance models on a still picture ---------------------------------------------
    def still_job(self, image: np.ndarray, source: str) -> Iterator[str]:
        """A job for the GUI's runner (progress lines, returns a ``StillResult``); raises
        ``WeightsMissingError`` in the job when the weights are not installed."""
        return self._runner.job(self.entry, image, source, self.still_side)

    def on_still(self, result: StillResult) -> None:
        self.still = result
        self._still_picture = None
        self.still_changed.emit(None)

    def clear_still(self) -> None:
        if self.still is not None:
            self.still = None
            self._still_picture = None
            self.still_changed.emit(None)

    def set_score(self, score: float) -> None:
        self.score = min(1.0, max(0.05, float(score)))
        self._still_picture = None
        self.still_changed.emit(None)

    def set_still_side(self, side: int) -> None:
        self.still_side = int(side)

    def still_picture(self) -> np.ndarray | None:
        """The still with its instances drawn at the current score threshold (cached), or None."""
        if self.still is None:
            return None
        if self._still_picture is None:
            self._still_picture = self.still.picture(self.score)
        return self._still_picture

    def close(self) -> None:
        self._runner.release()
        super().close()

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

    def set_stages(self, on: bool) -> None:
        """Record the decoder's upsampling path on every frame (the course view)."""
        self._set(self.settings.with_(stages=bool(on)))

    def set_cam(self, class_id: int | None, layer: str | None = None) -> None:
        """Grad-CAM of ``class_id``'s region at module ``layer`` (None: the backbone's last
        stage); class_id None switches it off."""
        if class_id is not None and not 0 <= int(class_id) < len(VOC_CLASSES):
            raise ValueError(f"class id must be 0..{len(VOC_CLASSES) - 1}, not {class_id}")
        self._set(self.settings.with_(cam_class=None if class_id is None else int(class_id), cam_layer=layer))

    def cam_layers(self) -> list[str]:
        """The layers Grad-CAM may look at for the chosen semantic model (last first); [] for instance models."""
        if self.is_instances:
            return []
        from engine.features.segment.cam import cam_layers
        return cam_layers(self.entry.meta["architecture"])

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
