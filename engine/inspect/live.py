"""The live inspection task: one forward pass per frame gives the chosen layer's channel
maps and the top-5 classes; saliency modes add a backward pass.

Settings the user changes while frames flow (layer, mode, class, Grad-CAM layer, how
many channels, the enlarged channel) are plain attributes read on every frame; only a
new model or new weights needs a new task. ``needs_grad`` follows ``mode``, so the
worker switches between inference mode and autograd frame by frame.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.inspect.activations import ChannelSummary, LayerTap, channel_maps, top_channels
from engine.inspect.filters import FilterView, filter_view
from engine.inspect.layer_table import LayerTable, build_layer_table
from engine.inspect.predictions import Prediction, top_k
from engine.inspect.preprocess import InputGeometry, frame_to_tensor
from engine.inspect.saliency import class_scores, grad_cam, last_conv_layer, smooth_grad, vanilla_gradient
from engine.inspect.zoo import InspectModel, Preprocessing, load_model
from engine.runtime import Task
from engine.sources import Frame

log = logging.getLogger(__name__)

MODES = ("activations", "gradient", "smoothgrad", "gradcam")


@dataclass(frozen=True, eq=False)
class InspectResult:
    """What one frame showed.

    channels: the strongest channels of ``layer`` (maps in that layer's grid). pinned:
    (h, w) float32 map of the enlarged channel ``pinned_channel``, or None.
    predictions: top-k classes (empty for models without class scores). saliency: (S, S)
    float32 in [0, 1] over the network input (map to the frame with ``geometry``), or
    None in "activations" mode. table: the layer table of the loaded model (the same
    object on every frame of one task). filters: kernels of ``filters_layer`` (the same
    object until that layer changes), or None.
    """

    model: str
    weights_label: str
    trained: bool
    layer: str
    channels: ChannelSummary | None
    pinned_channel: int | None
    pinned: np.ndarray | None
    predictions: tuple[Prediction, ...]
    mode: str
    saliency: np.ndarray | None
    saliency_class: Prediction | None
    saliency_layer: str
    geometry: InputGeometry
    table: LayerTable | None = field(default=None, repr=False)
    filters: FilterView | None = field(default=None, repr=False)


def receptive_box(table: LayerTable, layer: str, row: int, col: int, geometry: InputGeometry) -> tuple[float, float, float, float]:
    """Frame-pixel box x1 y1 x2 y2 of the unit at grid (row, col) of ``layer``.

    Every channel of a layer sees the same input region, so the channel is not needed.
    The box is clipped to the network input, then mapped to frame pixels.
    """
    rf = table.row(layer).receptive_field
    if rf is None:
        raise ValueError(f"layer '{layer}' did not run, so it has no receptive field")
    box = rf.unit_box(row, col, geometry.input_size, geometry.input_size)
    return geometry.to_frame(box)


def unit_at(table: LayerTable, layer: str, x: float, y: float, geometry: InputGeometry) -> tuple[int, int]:
    """The (row, col) of ``layer``'s grid whose receptive field is centred nearest to frame point (x, y).

    Unit u is centred on input pixel u * stride - padding + (size - 1) / 2; the result is
    clipped to the layer's grid.
    """
    row_info = table.row(layer)
    rf = row_info.receptive_field
    if rf is None or row_info.output_shape is None or len(row_info.output_shape) != 3:
        raise ValueError(f"layer '{layer}' has no feature map to point into")
    _, height, width = row_info.output_shape
    xi, yi = geometry.to_input(x, y)
    xi, yi = xi - 0.5, yi - 0.5  # pixel centres: input pixel i spans [i, i + 1)
    col = round((xi + rf.x.padding - (rf.x.size - 1) / 2) / rf.x.stride)
    row = round((yi + rf.y.padding - (rf.y.size - 1) / 2) / rf.y.stride)
    return min(max(row, 0), height - 1), min(max(col, 0), width - 1)


class InspectTask(Task):
    """Runs a zoo model on live frames and reports what ``layer`` sees.

    mode: "activations" (no gradients), "gradient", "smoothgrad" or "gradcam".
    target_class: class index to explain, or None for the top prediction.
    cam_layer: Grad-CAM layer (None: the last convolution).
    filters_layer: a convolution whose kernels to report (read from the model inside the
    worker thread, recomputed only when the name changes). frozen_image: when set (BGR
    uint8), analysed instead of each incoming frame, for "freeze frame".
    input_size: side of the square network input in pixels (None: the weights' own);
    smaller is faster, and the receptive fields in pixels stay the same.
    model: an already built InspectModel to use instead of loading ``model_name``.
    """

    name = "inspect"

    def __init__(
        self,
        model_name: str,
        *,
        weights: str | Path | None = None,
        untrained: bool = False,
        layer: str | None = None,
        mode: str = "activations",
        channels: int = 16,
        topk: int = 5,
        target_class: int | None = None,
        cam_layer: str | None = None,
        smoothgrad_samples: int = 8,
        input_size: int | None = None,
        cache: Any = None,
        model: InspectModel | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
        self.model_name = model_name
        self.weights = weights
        self.untrained = untrained
        self.layer = layer
        self.mode = mode
        self.channels = channels
        self.topk = topk
        self.target_class = target_class
        self.cam_layer = cam_layer
        self.smoothgrad_samples = smoothgrad_samples
        self.input_size = input_size
        self.pinned_channel: int | None = None
        self.filters_layer: str | None = None
        self.frozen_image: np.ndarray | None = None
        self._filters: FilterView | None = None
        self.cache = cache
        self.model: InspectModel | None = model
        self.table: LayerTable | None = None
        self.device = torch.device("cpu")
        self._tap: LayerTap | None = None
        self.loaded = threading.Event()

    @property
    def needs_grad(self) -> bool:  # type: ignore[override]
        return self.mode != "activations"

    # -- life cycle (worker thread) -----------------------------------------------------
    def load(self, device: torch.device) -> None:
        if self.model is None:
            self.model = load_model(self.model_name, weights=self.weights, untrained=self.untrained, cache=self.cache)
        module = self.model.module.to(device).eval()
        self.device = device
        pre = self._preprocessing()
        self.table = build_layer_table(module, (pre.channels, pre.input_size, pre.input_size), self.model_name)
        module.requires_grad_(False)  # saliency differentiates w.r.t. inputs, never weights
        if self.layer is None:
            spatial = self.table.spatial_rows()
            self.layer = spatial[len(spatial) // 2].name if spatial else self.table.rows[0].name
        self._tap = LayerTap(module, self.layer, self.model_name)
        self.loaded.set()

    def close(self) -> None:
        if self._tap is not None:
            self._tap.close()
            self._tap = None
        self.model = None

    # -- per frame ----------------------------------------------------------------------
    def preprocess(self, frame: Frame) -> tuple[torch.Tensor, InputGeometry]:
        assert self.model is not None, "load() must run first"
        image = self.frozen_image if self.frozen_image is not None else frame.image
        return frame_to_tensor(image, self._preprocessing(), self.device)

    def _preprocessing(self) -> Preprocessing:
        assert self.model is not None
        pre = self.model.spec.preprocessing
        return pre if not self.input_size else replace(pre, input_size=int(self.input_size))

    def infer(self, inputs: tuple[torch.Tensor, InputGeometry]) -> dict[str, Any]:
        assert self.model is not None and self._tap is not None
        x, geometry = inputs
        module = self.model.module
        tap = self._tap
        # Read live settings once: the GUI may change them while this frame runs, and the
        # result must describe what was actually computed.
        layer = str(self.layer)
        tap.layer = layer  # re-hooks only when the layer changed
        mode = self.mode
        out: dict[str, Any] = {"geometry": geometry, "mode": mode, "layer": layer, "saliency": None, "target": None, "cam_layer": ""}
        if mode in ("activations", "smoothgrad"):
            with torch.no_grad():
                output = module(x)
        else:
            output = None
        scores = None
        if mode == "gradcam":
            cam_layer = self.cam_layer or last_conv_layer(module)
            wanted = self.target_class  # read once: the GUI may change it meanwhile
            out["saliency"], scores = grad_cam(module, x, wanted, cam_layer, self.model_name)
            target = wanted if wanted is not None else int(scores[0].argmax())
            out["target"], out["cam_layer"] = target, cam_layer
        elif mode in ("gradient", "smoothgrad"):
            if mode == "gradient":
                x_grad = x.detach().clone().requires_grad_(True)
                with torch.enable_grad():
                    output = module(x_grad)
                    scores = class_scores(output)
                    target = self.target_class if self.target_class is not None else int(scores[0].argmax())
                    (grad,) = torch.autograd.grad(scores[0, target], x_grad)
                sal = grad.abs().amax(dim=1)[0]
                sal = sal - sal.min()
                out["saliency"] = (sal / sal.max() if sal.max() > 0 else sal).detach()
            else:
                scores = class_scores(output)
                target = self.target_class if self.target_class is not None else int(scores[0].argmax())
                out["saliency"] = smooth_grad(module, x, target, samples=self.smoothgrad_samples, seed=None)
            out["target"] = target
        if scores is None and output is not None:
            try:
                scores = class_scores(output)
            except ValueError:
                scores = None
        out["scores"] = scores.detach() if scores is not None else None
        out["activation"] = tap.output
        return out

    def postprocess(self, outputs: dict[str, Any], frame: Frame) -> InspectResult:
        assert self.model is not None
        spec = self.model.spec
        activation = outputs["activation"]
        summary = top_channels(activation, self.channels) if activation is not None else None
        pinned = None
        pinned_channel = self.pinned_channel
        if activation is not None and pinned_channel is not None and activation.dim() == 4 and pinned_channel < activation.shape[1]:
            pinned = channel_maps(activation, [pinned_channel])[0]
        else:
            pinned_channel = None
        scores = outputs["scores"]
        predictions = tuple(top_k(scores[0], spec.categories, self.topk)) if scores is not None else ()
        saliency = outputs["saliency"]
        target = outputs["target"]
        saliency_class = None
        if target is not None and scores is not None:
            prob = float(torch.softmax(scores[0].float(), dim=0)[target])
            saliency_class = Prediction(int(target), spec.categories[target] if target < len(spec.categories) else "", prob)
        filters = None
        if self.filters_layer:
            if self._filters is None or self._filters.layer != self.filters_layer:
                self._filters = filter_view(self.model.module, self.filters_layer, self.model_name)
            filters = self._filters
        return InspectResult(
            model=self.model_name,
            weights_label=self.model.weights_label,
            trained=self.model.trained,
            layer=outputs["layer"],
            channels=summary,
            pinned_channel=pinned_channel,
            pinned=pinned,
            predictions=predictions,
            mode=outputs["mode"],
            saliency=saliency.float().cpu().numpy() if saliency is not None else None,
            saliency_class=saliency_class,
            saliency_layer=outputs["cam_layer"],
            geometry=outputs["geometry"],
            table=self.table,
            filters=filters,
        )
