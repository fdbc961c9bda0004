"""The live-feed task of the Detect tab: a detector (and, optionally, the tracker and
counters) on each frame, in the worker thread.

Live settings are one frozen ``DetectSettings`` snapshot: thresholds, class filter, input
size, tracking on/off and the source's lines and zones. The GUI hands a new snapshot to
``InferenceWorker.update``; ``configure`` applies it on the worker thread between frames,
so a frame is computed with one snapshot from start to end. Changing the model means a
new task (``worker.set_task``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from engine.core.frame import Frame
from engine.features.detect.counting import Regions
from engine.features.detect.detector import Detector
from engine.features.detect.scene_analysis import SceneAnalyzer, TrackedFrame
from engine.features.detect.tracking import TrackerConfig, config_for_confidence
from engine.features.detect.types import Detections
from engine.runtime.worker import Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectSettings:
    """The Detect tab's live settings.

    conf_threshold / iou_threshold: 0..1. class_filter: class ids to keep (None: all).
    input_size: network input (width, height) as the model's capabilities allow, or None for its default.
    tracking: run the tracker and counters. regions: lines and zones (frame pixels).
    tracker: association settings.
    """

    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    class_filter: frozenset[int] | None = None
    input_size: tuple[int, int] | None = None
    tracking: bool = False
    regions: Regions = field(default_factory=Regions)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


@dataclass(frozen=True, eq=False)
class TrackedDetections:
    """A frame's detections together with what tracking and counting made of them
    (``tracked.track_ids[i]`` is the track id of ``detections`` row i, -1 for none)."""

    detections: Detections
    tracked: TrackedFrame


def split_result(result: Any) -> tuple[Detections | None, TrackedFrame | None]:
    """(detections, tracked-or-None) from what ``DetectionTask.postprocess`` returned."""
    if isinstance(result, TrackedDetections):
        return result.detections, result.tracked
    if isinstance(result, Detections):
        return result, None
    return None, None


def event_time(frame: Frame) -> tuple[float, str]:
    """When ``frame`` was, for counting events and exports: (seconds, time base). A video
    file's own time ("video": seconds into the file), else the wall clock at capture
    ("wall": Unix seconds, UTC), from the frame's monotonic timestamp."""
    if frame.position is not None:
        return float(frame.position), "video"
    return frame.timestamp + (time.time() - time.monotonic()), "wall"


class DetectionTask(Task):
    """Wraps a detector factory; the detector is built in ``load`` on the worker thread.

    ``factory(device) -> Detector`` should raise with a user-facing message on failure
    (the worker reports it as a "load_error" event). ``postprocess`` returns
    ``Detections``, or ``TrackedDetections`` while ``settings.tracking`` is on. Event times
    are ``event_time(frame)``: video seconds for files, Unix seconds for live sources.
    """

    def __init__(self, factory: Callable[[torch.device], Detector], name: str = "detect",
                 settings: DetectSettings | None = None) -> None:
        self.name = name
        self._factory = factory
        self.detector: Detector | None = None
        self.settings = settings or DetectSettings()
        self.analyzer: SceneAnalyzer | None = None

    @classmethod
    def for_detector(cls, detector: Detector, name: str = "detect") -> "DetectionTask":
        """A task around an already built ``detector``, with settings read from its
        thresholds and class filter (so loading the task changes nothing about it)."""
        classes = None if detector.class_filter is None else frozenset(detector.class_filter)
        settings = DetectSettings(conf_threshold=detector.conf_threshold, iou_threshold=detector.iou_threshold,
                                  class_filter=classes)
        return cls(lambda device: detector, name=name, settings=settings)

    def load(self, device: torch.device) -> None:
        self.detector = self._factory(device)
        self.configure(self.settings)
        self.detector.warmup()
        log.info("detector %s ready on %s", self.detector.name, device)

    @property
    def status(self) -> str:
        """What runs, for the status bar (the worker reports changes): the detector's
        ``precision_label`` when "auto" chose the precision or a compile is involved, e.g.
        "auto (bf16: AMX), compiling…", then "…, compiled"; a compile given up says why:
        "fp32, eager (torch.compile failed (…))". "" for a plain fixed precision."""
        det = self.detector
        label = str(getattr(det, "precision_label", "") or "")
        if not (label.startswith("auto") or getattr(det, "compile_state", "")):
            return ""
        note = getattr(det, "compile_note", "")
        return f"{label} ({note})" if note else label

    def configure(self, settings: DetectSettings) -> None:
        """Apply a snapshot (worker thread, between frames)."""
        self.settings = settings
        det = self.detector
        if det is None:
            return  # applied in load
        tracker = config_for_confidence(settings.conf_threshold, settings.tracker)
        # While tracking, the detector also reports unsure boxes (they keep tracks alive);
        # postprocess shows only those at or above the user's threshold.
        det.conf_threshold = float(tracker.low_threshold if settings.tracking else settings.conf_threshold)
        det.iou_threshold = float(settings.iou_threshold)
        det.class_filter = None if settings.class_filter is None else set(settings.class_filter)
        if settings.input_size is not None and det.input_size is not None and tuple(settings.input_size) != det.input_size:
            det.set_input_size(*settings.input_size)
        if not settings.tracking:
            self.analyzer = None
        elif self.analyzer is None or tracker != self.analyzer.tracker.config:
            self.analyzer = SceneAnalyzer(settings.regions, tuple(det.class_names), tracker)
        else:
            self.analyzer.set_regions(settings.regions)

    def preprocess(self, frame: Frame) -> Any:
        if self.detector is None:
            raise RuntimeError("the detector is not loaded")
        return self.detector.prepare(frame.image)

    def infer(self, inputs: Any) -> Any:
        assert self.detector is not None
        outputs = self.detector.forward(inputs)
        if self.detector.device.type == "cuda":
            torch.cuda.synchronize(self.detector.device)  # so the inference timing is honest
        return outputs, inputs

    def postprocess(self, outputs: Any, frame: Frame) -> Detections | TrackedDetections:
        assert self.detector is not None
        raw, prepared = outputs
        detections = self.detector.finish(raw, prepared)
        if self.analyzer is None:
            return detections
        seconds, time_base = event_time(frame)
        tracked = self.analyzer.step(detections.boxes, detections.scores, detections.class_ids,
                                     seconds, frame.index, time_base)
        shown = detections.scores >= self.settings.conf_threshold
        # track_ids stay aligned with the detections that are reported.
        return TrackedDetections(detections.select(shown), replace(tracked, track_ids=tracked.track_ids[shown]))

    def close(self) -> None:
        self.detector = None
        self.analyzer = None
