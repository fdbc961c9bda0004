"""The one interface every object detector follows (Darknet YOLO, torchvision models).

A detector is built once (``load``), then ``detect(image_bgr)`` is called per frame from
a single thread. Thresholds and the class filter are plain attributes, read per call,
so the GUI can change them while the live feed runs.
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod

import numpy as np
import torch

from engine.core.errors import UserError
from engine.features.detect.types import Detections

log = logging.getLogger(__name__)


class DetectorError(UserError, ValueError):
    """A detector cannot be built or run with the given files/settings; user-facing message."""


class Detector(ABC):
    """Base class of detectors.

    Attributes:
        name: model name shown to the user (catalog name or file stem).
        class_names: label of each class index.
        conf_threshold: minimum score (0..1) of a reported detection.
        iou_threshold: class-wise NMS drops a box overlapping a better one of the same
            class by more than this IoU.
        class_filter: class indices to report, or None for all.
        max_detections: at most this many boxes per frame (best first).
    """

    name: str = "detector"

    def __init__(self, class_names: tuple[str, ...], *, conf_threshold: float = 0.25,
                 iou_threshold: float = 0.45, class_filter: set[int] | None = None,
                 max_detections: int = 300, device: torch.device | str | None = None) -> None:
        self.class_names = tuple(class_names)
        self.conf_threshold = float(conf_threshold)
        self.iou_threshold = float(iou_threshold)
        self.class_filter = class_filter
        self.max_detections = int(max_detections)
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    @property
    def input_size(self) -> tuple[int, int] | None:
        """Network input (width, height) in pixels, or None when the model resizes itself."""
        return None

    def keep_float_copy(self, model: torch.nn.Module, dtype: torch.dtype) -> None:
        """Keep ``model`` as loaded (float32, on the CPU) before it is cast to ``dtype``, for
        ``float_model``; keeps nothing when ``dtype`` is float32 (the model is its own copy)."""
        self._float_model = copy.deepcopy(model).cpu().float().eval() if dtype != torch.float32 else None

    @property
    def float_model(self) -> torch.nn.Module | None:
        """The network with its float32 weights as loaded (the ONNX export reads it): casting
        to bfloat16/float16 rounds the weights, and casting back would not restore them.
        The running model itself when it runs in float32; None for a detector without one."""
        kept = getattr(self, "_float_model", None)
        return kept if kept is not None else getattr(self, "model", None)

    def set_input_size(self, width: int, height: int) -> None:
        raise DetectorError(f"{self.name} does not take an input size")

    @abstractmethod
    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Detect objects in a BGR uint8 (H, W, 3) image."""

    # Live tasks time three steps separately; detectors that cannot split them keep
    # these defaults, which put all the work in ``forward``.
    def prepare(self, image_bgr: np.ndarray):
        return image_bgr

    def forward(self, prepared):
        return self.detect(prepared)

    def finish(self, outputs, prepared) -> Detections:
        return outputs

    def warmup(self, runs: int = 1) -> None:
        """Run on a blank frame so lazy initialisation (cudnn autotune, allocators) is done."""
        size = self.input_size or (320, 320)
        blank = np.zeros((size[1], size[0], 3), np.uint8)
        for _ in range(runs):
            self.detect(blank)

    def class_mask(self, num_classes: int, device: torch.device) -> torch.Tensor | None:
        """Boolean (C,) tensor of allowed classes, or None when all are allowed."""
        if self.class_filter is None:
            return None
        mask = torch.zeros(num_classes, dtype=torch.bool, device=device)
        ids = [i for i in self.class_filter if 0 <= i < num_classes]
        if ids:
            mask[torch.tensor(ids, device=device)] = True
        return mask

    def class_ids_for(self, labels: list[str]) -> set[int]:
        """Class names -> indices; raises DetectorError naming unknown labels."""
        lookup = {n.lower(): i for i, n in enumerate(self.class_names)}
        unknown = [label for label in labels if label.strip().lower() not in lookup]
        if unknown:
            raise DetectorError(f"unknown class name(s) for {self.name}: {', '.join(unknown)} "
                                f"(known: {', '.join(n for n in self.class_names if n and n != 'N/A')})")
        return {lookup[label.strip().lower()] for label in labels}
