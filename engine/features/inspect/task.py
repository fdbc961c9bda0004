"""The live inspection task: one forward pass per frame gives the chosen layer's channel
maps and the top-5 classes; explanation modes add backward (or extra forward) passes.

Settings the user changes while frames flow (layer, mode, class, Grad-CAM layer, how
many channels, the enlarged channel, freeze, collecting top patches) form one frozen
:class:`InspectSettings` snapshot. The GUI hands a new snapshot to the worker, which
calls :meth:`InspectTask.configure` with it on the worker thread between frames (a layer
change re-hooks there); every step of a frame reads the snapshot that frame started
with, and ``needs_grad`` is derived from it. Only a new model or new weights needs a new
task.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.frame import Frame
from engine.features.inspect.activations import ChannelPicker, ChannelSummary, LayerTap, channel_maps, top_channels
from engine.features.inspect.attribution import guided_backprop, integrated_gradients, normalise, occlusion
from engine.features.inspect.filters import FilterView, filter_view
from engine.features.inspect.layer_table import LayerTable, build_layer_table
from engine.features.inspect.predictions import Prediction, top_k
from engine.features.inspect.saliency import class_scores, grad_cam, last_conv_layer, smooth_grad
from engine.features.inspect.top_patches import TopPatches
from engine.features.inspect.zoo import InspectModel, load_model
from engine.models.catalog import Transforms
from engine.models.transforms import InputMapping, to_input
from engine.runtime.packed_conv import pack_conv_weights
from engine.runtime.worker import Task

log = logging.getLogger(__name__)

MODES = ("activations", "gradient", "smoothgrad", "gradcam", "integrated_gradients", "guided_backprop", "occlusion")
MODE_TITLES = {
    "activations": "Off (activations only)",
    "gradient": "Vanilla gradient",
    "smoothgrad": "SmoothGrad",
    "gradcam": "Grad-CAM",
    "integrated_gradients": "Integrated Gradients",
    "guided_backprop": "Guided backprop",
    "occlusion": "Occlusion",
}


@dataclass(frozen=True)
class InspectSettings:
    """Everything a frame of :class:`InspectTask` depends on besides the model (one snapshot).

    layer: the layer whose channels to show (None: a middle spatial layer, chosen at
    load). mode: one of ``MODES``. channels: how many of the strongest to show. topk:
    classes to report. target_class: class to explain (None: the top prediction).
    cam_layer: Grad-CAM's layer (None: the last convolution). pinned_channel: the
    enlarged channel. filters_layer: a convolution whose kernels to report (None: the
    first one). frozen_image: BGR uint8 analysed instead of every frame ("freeze").
    collect: feed the top-patches collection with every frame.
    """

    layer: str | None = None
    mode: str = "activations"
    channels: int = 16
    topk: int = 5
    target_class: int | None = None
    cam_layer: str | None = None
    smoothgrad_samples: int = 8
    ig_steps: int = 16
    pinned_channel: int | None = None
    filters_layer: str | None = None
    frozen_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    collect: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode '{self.mode}': use one of {', '.join(MODES)}")
        if self.channels < 1 or self.topk < 0 or self.smoothgrad_samples < 1 or self.ig_steps < 1:
            raise ValueError("channels, smoothgrad_samples and ig_steps must be 1 or more and topk 0 or more")

    @property
    def needs_grad(self) -> bool:
        return self.mode not in ("activations", "occlusion")


@dataclass(frozen=True, eq=False)
class InspectResult:
    """What one frame showed.

    channels: the strongest channels of ``layer`` (maps in that layer's grid). pinned:
    (h, w) float32 map of the enlarged channel ``pinned_channel``, or None.
    predictions: top-k classes (empty for models without class scores). saliency: (S, S)
    float32 in [0, 1] over the network input (map to the frame with ``geometry``), or
    None in "activations" mode. table: the layer table of the loaded model (the same
    object on every frame of one task). filters: kernels of ``filters_layer`` (the same
    object until that layer changes), or None. settings: the snapshot the frame was
    computed with. notice: a message for the user about this task (weights that failed
    to load and what is shown instead), "" when none. collected: the version of the
    top-patches collection after this frame (0 when not collecting).
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
    geometry: InputMapping
    table: LayerTable | None = field(default=None, repr=False)
    filters: FilterView | None = field(default=None, repr=False)
    settings: InspectSettings | None = field(default=None, repr=False)
    notice: str = ""
    collected: int = 0


def receptive_box(table: LayerTable, layer: str, row: int, col: int, geometry: InputMapping) -> tuple[float, float, float, float]:
    """Frame-pixel box x1 y1 x2 y2 of the unit at grid (row, col) of ``layer``.

    Every channel of a layer sees the same input region, so the channel is not needed.
    The box is clipped to the network input, then mapped to frame pixels.
    """
    rf = table.row(layer).receptive_field
    if rf is None:
        raise ValueError(f"layer '{layer}' did not run, so it has no receptive field")
    box = rf.unit_box(row, col, geometry.input_height, geometry.input_width)
    return geometry.box_to_frame(box)


def unit_at(table: LayerTable, layer: str, x: float, y: float, geometry: InputMapping) -> tuple[int, int]:
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
    """Runs a zoo model on live frames and reports what the settings' ``layer`` sees.

    settings: the initial :class:`InspectSettings` (replaced later through ``configure``).
    input_size: side of the square network input in pixels (None: the weights' own);
    smaller is faster, and the receptive fields in pixels stay the same.
    model: an already built InspectModel to use instead of loading ``model_name``.
    fallback: (weights, untrained) to load instead when the chosen weights fail to load
    (the previous choice): the task then runs with those and every result's ``notice``
    says what happened. collection: the TopPatches that ``settings.collect`` feeds.
    """

    name = "inspect"

    def __init__(
        self,
        model_name: str,
        *,
        weights: str | Path | None = None,
        untrained: bool = False,
        settings: InspectSettings | None = None,
        input_size: int | None = None,
        cache: Any = None,
        model: InspectModel | None = None,
        fallback: tuple[str | Path | None, bool] | None = None,
        collection: TopPatches | None = None,
    ) -> None:
        self.model_name = model_name
        self.weights = weights
        self.untrained = untrained
        self.settings: InspectSettings = settings or InspectSettings()
        self.input_size = input_size
        self.fallback = fallback
        self.collection = collection
        self.notice = ""
        self._filters: FilterView | None = None
        self.cache = cache
        self.model: InspectModel | None = model
        self.table: LayerTable | None = None
        self.device = torch.device("cpu")
        self._tap: LayerTap | None = None
        self._picker = ChannelPicker()
        self.loaded = threading.Event()

    @property
    def needs_grad(self) -> bool:  # type: ignore[override]
        return self.settings.needs_grad

    # -- life cycle (worker thread) -----------------------------------------------------
    def _load_model(self) -> InspectModel:
        try:
            return load_model(self.model_name, weights=self.weights, untrained=self.untrained, cache=self.cache)
        except Exception as exc:  # noqa: BLE001 - any failure of the new weights falls back
            if self.fallback is None:
                raise
            weights, untrained = self.fallback
            model = load_model(self.model_name, weights=weights, untrained=untrained, cache=self.cache)
            what = Path(self.weights).name if self.weights else "the chosen weights"
            self.notice = f"{what} could not be loaded ({type(exc).__name__}: {exc}); kept the previous weights: {model.weights_label}"
            log.warning("%s", self.notice)
            self.weights, self.untrained = weights, untrained
            return model

    def load(self, device: torch.device) -> None:
        if self.model is None:
            self.model = self._load_model()
        module = self.model.module.to(device).eval()
        self.device = device
        transforms = self._transforms()
        width, height = transforms.size
        self.table = build_layer_table(module, (transforms.channels, height, width), self.model_name)
        module.requires_grad_(False)  # explanations differentiate w.r.t. inputs, never weights
        if device.type == "cpu":  # oneDNN's weight layout made once, not every frame (same outputs, hooks, grads)
            pack_conv_weights(module, torch.zeros(1, transforms.channels, height, width))
        self._tap = LayerTap(module, self._default_layer(), self.model_name)
        self.configure(self.settings)
        self.loaded.set()

    def _default_layer(self) -> str:
        assert self.table is not None
        if self.settings.layer:
            return self.settings.layer
        spatial = self.table.spatial_rows()
        return spatial[len(spatial) // 2].name if spatial else self.table.rows[0].name

    def configure(self, settings: InspectSettings) -> None:
        """Apply a snapshot (worker thread, between frames): re-hook a new layer here.

        A bad layer name raises before anything changes, so the old settings stay.
        """
        if self._tap is None:  # not loaded yet: load() applies it
            self.settings = settings
            return
        layer = settings.layer or self._tap.layer or self._default_layer()
        filters_layer = settings.filters_layer
        if filters_layer is None and self.table is not None:
            convs = [r.name for r in self.table.rows if r.type == "Conv2d"]
            filters_layer = convs[0] if convs else None
        self._tap.layer = layer  # validates; re-hooks only when the layer changed
        if settings.layer != layer or settings.filters_layer != filters_layer:
            settings = _replace(settings, layer=layer, filters_layer=filters_layer)
        self.settings = settings

    def close(self) -> None:
        if self._tap is not None:
            self._tap.close()
            self._tap = None
        self.model = None

    # -- per frame ----------------------------------------------------------------------
    def preprocess(self, frame: Frame) -> tuple[torch.Tensor, InputMapping, InspectSettings, np.ndarray]:
        assert self.model is not None, "load() must run first"
        settings = self.settings  # this frame's snapshot: every later step reads this one
        image = settings.frozen_image if settings.frozen_image is not None else frame.image
        # A new tensor per frame, not a reused buffer: frames alternate between inference
        # mode and grad mode (explanations make the input require grad).
        x, geometry = to_input(image, self._transforms(), device=self.device)
        return x, geometry, settings, image

    def _transforms(self) -> Transforms:
        assert self.model is not None
        return self.model.input_transforms(self.input_size)

    def infer(self, inputs: tuple[torch.Tensor, InputMapping, InspectSettings, np.ndarray]) -> dict[str, Any]:
        assert self.model is not None and self._tap is not None
        x, geometry, s, image = inputs
        module = self.model.module
        tap = self._tap
        mode = s.mode
        out: dict[str, Any] = {"geometry": geometry, "settings": s, "image": image, "mode": mode, "layer": tap.layer,
                               "saliency": None, "target": None, "cam_layer": ""}
        classifier = self.model.classifier
        if mode != "activations" and not classifier:
            raise ValueError(f"{self.model_name} has no class scores to explain: {MODE_TITLES[mode]} needs a classifier")
        output = None
        if mode in ("activations", "smoothgrad", "integrated_gradients", "guided_backprop", "occlusion"):
            with torch.no_grad():
                output = module(x)
        activation = tap.output  # of the plain forward pass (explanations below run more)
        scores = None
        if mode == "gradcam":
            cam_layer = s.cam_layer or last_conv_layer(module)
            out["saliency"], scores = grad_cam(module, x, s.target_class, cam_layer, self.model_name)
            target = s.target_class if s.target_class is not None else int(scores[0].argmax())
            out["target"], out["cam_layer"] = target, cam_layer
            activation = tap.output
        elif mode == "gradient":
            x_grad = x.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                output = module(x_grad)
                scores = class_scores(output)
                target = s.target_class if s.target_class is not None else int(scores[0].argmax())
                (grad,) = torch.autograd.grad(scores[0, target], x_grad)
            activation = tap.output
            sal = grad.abs().amax(dim=1)[0]
            sal = sal - sal.min()
            out["saliency"], out["target"] = (sal / sal.max() if sal.max() > 0 else sal).detach(), target
        elif mode != "activations":
            scores = class_scores(output)
            target = s.target_class if s.target_class is not None else int(scores[0].argmax())
            out["target"] = target
            if mode == "smoothgrad":
                out["saliency"] = smooth_grad(module, x, target, samples=s.smoothgrad_samples, seed=None)
            elif mode == "integrated_gradients":
                out["saliency"] = integrated_gradients(module, x, target, steps=s.ig_steps).heat()
            elif mode == "guided_backprop":
                out["saliency"] = guided_backprop(module, x, target)
            else:
                # A coarse 5 x 5 grid of windows keeps it near live (26 forward passes a frame).
                side = x.shape[-1] // 5
                out["saliency"] = normalise(occlusion(module, x, target, window=side, stride=side).clamp(min=0))
        if scores is None and output is not None and classifier:
            try:
                scores = class_scores(output)
            except ValueError:
                scores = None
        out["scores"] = scores.detach() if scores is not None else None
        out["activation"] = activation
        return out

    def postprocess(self, outputs: dict[str, Any], frame: Frame) -> InspectResult:
        assert self.model is not None and self.table is not None
        spec = self.model.spec
        s: InspectSettings = outputs["settings"]
        activation = outputs["activation"]
        # The picker keeps each shown channel in its tile from frame to frame (no reshuffling).
        summary = (top_channels(activation, s.channels, self._picker, outputs["layer"])
                   if activation is not None else None)
        pinned = None
        pinned_channel = s.pinned_channel
        if activation is not None and pinned_channel is not None and activation.dim() == 4 and pinned_channel < activation.shape[1]:
            pinned = channel_maps(activation, [pinned_channel])[0]
        else:
            pinned_channel = None
        scores = outputs["scores"]
        predictions = tuple(top_k(scores[0], spec.categories, s.topk)) if scores is not None else ()
        saliency = outputs["saliency"]
        target = outputs["target"]
        saliency_class = None
        if target is not None and scores is not None:
            prob = float(torch.softmax(scores[0].float(), dim=0)[target])
            saliency_class = Prediction(int(target), spec.categories[target] if target < len(spec.categories) else "", prob)
        filters = None
        if s.filters_layer:
            if self._filters is None or self._filters.layer != s.filters_layer:
                self._filters = filter_view(self.model.module, s.filters_layer, self.model_name)
            filters = self._filters
        collected = 0
        if s.collect and self.collection is not None and activation is not None and activation.dim() == 4:
            rf = self.table.row(outputs["layer"]).receptive_field
            if rf is not None:
                if self.collection.model != self.model_name:
                    self.collection.reset(outputs["layer"], self.model_name)
                self.collection.add(activation, outputs["image"], outputs["geometry"], rf, f"frame {frame.index}", layer=outputs["layer"])
                collected = self.collection.version
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
            settings=s,
            notice=self.notice,
            collected=collected,
        )


def _replace(settings: InspectSettings, **changes) -> InspectSettings:
    from dataclasses import replace

    return replace(settings, **changes)
