"""Grad-CAM for one detection of the Darknet YOLO models: which pixels made this box score.

A YOLO detection is the prediction of one anchor in one grid cell of one head; its
score is objectness x class probability (``engine.features.detect.backends.darknet.decode``). Grad-CAM
(Selvaraju et al. 2017) of that score at a feature map A: ReLU(sum_k alpha_k A_k) with
alpha_k the spatial mean of d score / d A_k, upsampled to the network input, then mapped
through the detector's resize/letterbox back to frame pixels.

The default layer is the head's input feature map (the output of the layer before the
head's final 1 x 1 convolution). A deeper receptive field shows more context: choose an
earlier layer with ``layer``. Names are those of ``DarknetModel.named_modules()``
("layers.12").

Intended use: the Detect tab calls :func:`detection_grad_cam` on the worker thread (the
model lives there) for the detection the user clicked, and paints ``heat`` over the frame
the detections were computed on, like the Feature maps tab's saliency overlay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.features.inspect.layer_table import find_layer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionCam:
    """heat: (frame_h, frame_w) float32 in [0, 1] over the frame. score: the detection's
    score recomputed in float32 with gradients; layer: where the map was taken."""

    heat: np.ndarray
    score: float
    layer: str
    detection: int


def default_cam_layer(model, head: int) -> str:
    """The head's input feature map: the layer before the head's final convolution."""
    index = model.heads[head].layer_index - 2
    return f"layers.{max(0, index)}"


def detection_score(raw: list[torch.Tensor], heads, origin: tuple[int, int, int, int], class_id: int) -> torch.Tensor:
    """The score (objectness x class probability) of the prediction at ``origin`` =
    (head, grid_x, grid_y, anchor) for ``class_id``, differentiable, from raw head outputs."""
    head_i, gx, gy, anchor = origin
    head = heads[head_i]
    t = raw[head_i][0].reshape(head.num_anchors, 5 + head.num_classes, raw[head_i].shape[2], raw[head_i].shape[3])
    objectness, cls = t[anchor, 4, gy, gx], t[anchor, 5 + class_id, gy, gx]
    if not head.new_coords:
        objectness, cls = objectness.sigmoid(), cls.sigmoid()
    return objectness * cls


def detection_grad_cam(detector, image_bgr: np.ndarray, detections, index: int, layer: str | None = None,
                       method: str = "gradcam") -> DetectionCam:
    """Grad-CAM of detection ``index`` of ``detections`` (computed by ``detector`` on ``image_bgr``).

    method: "gradcam" (channel weights = mean gradient, applied over the whole map: shows
    every place with the features that raise this score) or "hirescam" (Draelos & Carin
    2020: gradient x activation element-wise, then summed over channels: only the places
    that actually raised it; at the default layer that is the detection's own cell).

    detector: a ``YoloDetector`` (its DarknetModel and preprocessing are used, in float32,
    eagerly). Raises ValueError when the detections carry no grid origins (not a YOLO
    model) or ``index`` is out of range.
    """
    if detections.origins is None:
        raise ValueError("these detections carry no grid cells: Grad-CAM of a detection needs a Darknet YOLO model")
    if not 0 <= index < len(detections.scores):
        raise ValueError(f"detection {index} does not exist: there are {len(detections.scores)}")
    if method not in ("gradcam", "hirescam"):
        raise ValueError(f"unknown method '{method}': use gradcam or hirescam")
    model = detector.model
    origin = tuple(int(v) for v in detections.origins[index])
    class_id = int(detections.class_ids[index])
    layer = layer or default_cam_layer(model, origin[0])
    module = find_layer(model, layer, detector.name)
    if torch.is_inference_mode_enabled():
        raise RuntimeError("Grad-CAM needs gradients: run it outside torch.inference_mode() (a task with needs_grad)")
    with torch.inference_mode():  # the detector's preprocessor reuses inference-mode buffers
        x, mapping, (frame_w, frame_h) = detector.prepare(image_bgr)
    x = x.clone().float().contiguous().requires_grad_(True)  # so A is in the graph with frozen weights
    captured: list[torch.Tensor] = []

    def keep(mod, inputs, output):
        captured.append(output)
        return output.clone()  # later in-place ops must not change the captured map

    dtypes = {p.dtype for p in model.parameters()}
    restore = next(iter(dtypes)) if len(dtypes) == 1 and next(iter(dtypes)) != torch.float32 else None
    if restore is not None:
        model.float()
    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            raw = model(x)
            score = detection_score(raw, model.heads, origin, class_id)
            if not captured or captured[-1].dim() != 4:
                raise ValueError(f"layer '{layer}' gives no feature map for Grad-CAM")
            (grad,) = torch.autograd.grad(score, captured[-1])
    finally:
        handle.remove()
        if restore is not None:
            model.to(restore)
    activation = captured[-1].detach()
    weights = grad.mean(dim=(2, 3), keepdim=True) if method == "gradcam" else grad
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=(mapping.input_height, mapping.input_width), mode="bilinear", align_corners=False)[0, 0]
    # Network input -> frame: drop the letterbox padding, then undo the scaling.
    x0, y0 = int(round(mapping.pad_x)), int(round(mapping.pad_y))
    x1 = min(mapping.input_width, x0 + max(1, int(round(frame_w * mapping.scale_x))))
    y1 = min(mapping.input_height, y0 + max(1, int(round(frame_h * mapping.scale_y))))
    cam = cam[y0:y1, x0:x1][None, None]
    cam = F.interpolate(cam, size=(frame_h, frame_w), mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    peak = cam.max()
    heat = (cam / peak if peak > 0 else cam).cpu().numpy().astype(np.float32)
    return DetectionCam(heat, float(score.detach()), layer, index)
