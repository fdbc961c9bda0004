"""A trained detector: predict with it, save it as a model folder, load it again.

The folder is the YOLOX model folder of ``engine.models.yolox.folder`` (config.json
``model_type: "yolox"`` + model.safetensors in Megvii's key layout + classes.txt), the
format Detect opens as ``my-<name>`` and with ``detect --model-dir``. The training record
(start weights, held-out mAP, history) goes into config.json under ``"teach"``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.boxes import class_nms
from engine.features.teach.detection.augment import FILL, fit_scale
from engine.models.yolox import folder as yolox_folder
from engine.models.yolox.grid import decode_boxes, grid_points
from engine.models.yolox.model import YoloxModel

#: Predictions below this score are not returned (mAP wants the low ones too).
PREDICT_CONF = 0.01
NMS_IOU = 0.65
MAX_DETECTIONS = 100


def letterbox_input(image_bgr: np.ndarray, size: int) -> tuple[torch.Tensor, float]:
    """((1, 3, size, size) float BGR 0..255, scale): fitted at the top-left of a grey
    canvas, as Detect's YOLOX preprocessing does."""
    import cv2

    h, w = image_bgr.shape[:2]
    scale = fit_scale(w, h, size)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    canvas = np.full((size, size, 3), FILL, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return torch.from_numpy(canvas).permute(2, 0, 1)[None].float(), scale


def postprocess(rows: torch.Tensor, cells: torch.Tensor, strides: torch.Tensor, conf: float = PREDICT_CONF,
                iou: float = NMS_IOU, max_detections: int = MAX_DETECTIONS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One picture's rows (A, 5 + C) (probabilities, not logits) -> (boxes (M, 4) input
    pixels, scores (M,), class ids (M,)): score = objectness x best class probability,
    kept from ``conf`` up, class-wise NMS."""
    class_conf, class_ids = rows[:, 5:].max(dim=1)
    scores = rows[:, 4] * class_conf
    keep = torch.nonzero(scores >= conf).squeeze(1)
    boxes = decode_boxes(rows[keep, :4], cells[keep], strides[keep])
    order = class_nms(boxes, scores[keep], class_ids[keep], iou, max_detections)
    return boxes[order], scores[keep][order], class_ids[keep][order]


@dataclass
class TrainedDetector:
    """A YOLOX trained on your classes.

    classes: names by class id; arch: "nano" | "tiny"; input_size: the square side it was
    trained at (pixels); history: the training's progress reports; evaluation: the
    held-out split's ``DetectionEvaluation`` (None when nothing was held out); info:
    how it was trained (start weights, settings, held-out mAP), saved in config.json.
    """

    model: YoloxModel
    classes: tuple[str, ...]
    arch: str
    input_size: int
    history: tuple = ()
    evaluation: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model = self.model.eval()
        self._inference: YoloxModel | None = None

    def _network(self) -> YoloxModel:
        if self._inference is None:
            self._inference = copy.deepcopy(self.model).cpu().float().eval().fuse()
        return self._inference

    @torch.inference_mode()
    def predict(self, image_bgr: np.ndarray, conf: float = PREDICT_CONF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """BGR uint8 (H, W, 3) -> (boxes (M, 4) float32 x1 y1 x2 y2 in that picture's pixels,
        scores (M,) float32 in 0..1, class ids (M,) int64), best first."""
        x, scale = letterbox_input(image_bgr, self.input_size)
        rows = self._network()(x)[0]
        cells, strides = grid_points((self.input_size, self.input_size))
        boxes, scores, ids = postprocess(rows, cells, strides, conf)
        h, w = image_bgr.shape[:2]
        boxes = (boxes / scale).numpy()
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return boxes.astype(np.float32), scores.numpy().astype(np.float32), ids.numpy().astype(np.int64)

    def save(self, folder: str | Path) -> Path:
        """Write the model folder (see the module docstring); returns it."""
        return yolox_folder.write_folder(folder, self.model.cpu(), self.classes, (self.input_size, self.input_size),
                                         {"teach": self.info})


def load_trained_detector(folder: str | Path) -> TrainedDetector:
    """A model folder saved by ``TrainedDetector.save`` (or any YOLOX model folder) as a
    ``TrainedDetector`` (no history, no evaluation); raises ``YoloxFolderError``."""
    model, spec, config = yolox_folder.read_folder(folder)
    info = config.get("teach") if isinstance(config.get("teach"), dict) else {}
    return TrainedDetector(model, spec.classes, spec.arch.name, spec.input_size[0], info=info)
