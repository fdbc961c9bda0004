"""torchvision's COCO detectors behind the ``Detector`` interface.

Supported architectures (``ARCHITECTURES``): ssdlite320_mobilenet_v3_large and
fasterrcnn_mobilenet_v3_large_320_fpn. Their checkpoints are plain state_dicts, loaded
with ``torch.load(..., weights_only=True)`` into a model built without any download
(``weights=None, weights_backbone=None``). The models resize and normalise internally;
we hand them the whole frame as their catalog entry's ``transforms`` say (RGB float in
[0, 1], resolved by engine.models.transforms) and get boxes back in frame pixels. Labels use
torchvision's 91-entry COCO list (index 0 is the background, some are "N/A").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from engine.core.boxes import class_nms
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.names import coco91_names
from engine.features.detect.types import Detections
from engine.models.catalog import Transforms
from engine.models.transforms import InputResolver

log = logging.getLogger(__name__)


def _ssdlite(num_classes: int) -> nn.Module:
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    return ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)


def _frcnn(num_classes: int) -> nn.Module:
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn
    return fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=num_classes)


ARCHITECTURES: dict[str, Callable[[int], nn.Module]] = {
    "ssdlite320_mobilenet_v3_large": _ssdlite,
    "fasterrcnn_mobilenet_v3_large_320_fpn": _frcnn,
}


def build_model(architecture: str, num_classes: int = 91) -> nn.Module:
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise DetectorError(f"unknown torchvision detector '{architecture}' "
                            f"(known: {', '.join(ARCHITECTURES)})") from None
    return builder(num_classes)


def load_state_dict_file(model: nn.Module, path: str | Path) -> None:
    """Load a state_dict checkpoint safely; mismatching keys/shapes raise DetectorError."""
    from engine.models import checkpoint

    path = Path(path)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}

    def fits(state: object) -> None:
        problem = checkpoint.first_mismatch(expected, state)
        if problem is not None:
            raise DetectorError(f"{path} does not fit this architecture: {problem}")

    try:
        state = checkpoint.load(path, budget_bytes=checkpoint.budget_for(model), check=fits, what="weights file")
    except checkpoint.CheckpointError as exc:
        raise DetectorError(str(exc)) from None
    if not isinstance(state, dict):
        raise DetectorError(f"{path} does not hold a state_dict (found {type(state).__name__})")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise DetectorError(f"{path} does not fit this architecture: {' '.join(first[:3])[:400]}") from None


#: What torchvision's detectors take when no catalog entry says otherwise: whole RGB frames in [0, 1].
FRAME_RGB = Transforms(size=None, resize="stretch", colour="RGB", scale=1 / 255)


class TorchvisionDetector(Detector):
    """A torchvision detection model (SSDlite, Faster R-CNN) as a ``Detector``.

    transforms: how frames become its input (``size`` None: whole frames; the model
    resizes them itself).
    """

    def __init__(self, model: nn.Module, class_names: tuple[str, ...], *, name: str,
                 transforms: Transforms | None = None, **kwargs) -> None:
        super().__init__(class_names, **kwargs)
        self.name = name
        self.model = model.eval().to(self.device)
        self.transforms = transforms or FRAME_RGB
        self._resolver = InputResolver(self.transforms, device=self.device)

    @classmethod
    def from_file(cls, architecture: str, weights_path: str | Path, **kwargs) -> "TorchvisionDetector":
        names = coco91_names()
        model = build_model(architecture, len(names))
        load_state_dict_file(model, weights_path)
        kwargs.setdefault("name", architecture)
        return cls(model, names, **kwargs)

    def _set_model_thresholds(self) -> None:
        # Let the model's own filtering be no stricter than ours; we apply ours after.
        m = self.model
        if hasattr(m, "score_thresh"):  # SSD
            m.score_thresh = min(self.conf_threshold, 0.01)
            m.nms_thresh = self.iou_threshold
        roi = getattr(m, "roi_heads", None)
        if roi is not None:  # Faster R-CNN
            roi.score_thresh = min(self.conf_threshold, 0.05)
            roi.nms_thresh = self.iou_threshold

    @torch.inference_mode()
    def detect(self, image_bgr: np.ndarray) -> Detections:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise DetectorError(f"expected a BGR uint8 image of shape (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}")
        h, w = image_bgr.shape[:2]
        self._set_model_thresholds()
        x, _ = self._resolver(image_bgr)
        out = self.model([x[0]])[0]
        boxes, scores, labels = out["boxes"], out["scores"], out["labels"]
        keep = scores > self.conf_threshold
        allowed = self.class_mask(len(self.class_names), labels.device)
        if allowed is not None:
            keep &= allowed[labels.clamp(0, len(self.class_names) - 1)]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        order = class_nms(boxes, scores, labels, self.iou_threshold, self.max_detections)
        boxes, scores, labels = boxes[order], scores[order], labels[order]
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        return Detections(boxes=boxes.cpu().numpy().astype(np.float32), scores=scores.cpu().numpy().astype(np.float32),
                          class_ids=labels.cpu().numpy().astype(np.int64), class_names=self.class_names,
                          frame_size=(w, h), model=self.name)
