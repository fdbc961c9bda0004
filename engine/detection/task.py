"""The live-feed task of the Detect tab: runs a detector on each frame in the worker thread.

Thresholds, the class filter and the input size are plain attributes the GUI sets at any
time; they are applied to the detector at the start of every frame. Changing the model
means a new task (``worker.set_task``).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch

from engine.detection.detector import Detector
from engine.detection.types import Detections
from engine.runtime import Task
from engine.sources import Frame

log = logging.getLogger(__name__)


class DetectionTask(Task):
    """Wraps a detector factory; the detector is built in ``load`` on the worker thread.

    ``factory(device) -> Detector`` should raise with a user-facing message on failure
    (the worker reports it as a "load_error" event).
    """

    def __init__(self, factory: Callable[[torch.device], Detector], name: str = "detect", *,
                 conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                 class_filter: set[int] | None = None, input_size: tuple[int, int] | None = None) -> None:
        self.name = name
        self._factory = factory
        self.detector: Detector | None = None
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.class_filter = class_filter
        self.input_size = input_size

    def load(self, device: torch.device) -> None:
        self.detector = self._factory(device)
        self._apply_settings()
        self.detector.warmup()
        log.info("detector %s ready on %s", self.detector.name, device)

    def _apply_settings(self) -> None:
        det = self.detector
        assert det is not None
        det.conf_threshold = float(self.conf_threshold)
        det.iou_threshold = float(self.iou_threshold)
        det.class_filter = None if self.class_filter is None else set(self.class_filter)
        if self.input_size is not None and det.input_size is not None and tuple(self.input_size) != det.input_size:
            det.set_input_size(*self.input_size)

    def preprocess(self, frame: Frame) -> Any:
        if self.detector is None:
            raise RuntimeError("the detector is not loaded")
        self._apply_settings()
        return self.detector.prepare(frame.image)

    def infer(self, inputs: Any) -> Any:
        assert self.detector is not None
        outputs = self.detector.forward(inputs)
        if self.detector.device.type == "cuda":
            torch.cuda.synchronize(self.detector.device)  # so the inference timing is honest
        return outputs, inputs

    def postprocess(self, outputs: Any, frame: Frame) -> Detections:
        assert self.detector is not None
        raw, prepared = outputs
        return self.detector.finish(raw, prepared)

    def close(self) -> None:
        self.detector = None
