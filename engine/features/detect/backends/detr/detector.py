"""Any DETR-style set predictor (RT-DETR, RT-DETRv2, D-FINE) behind the ``Detector`` interface.

The model contract (``SetDetector.model``, an ``nn.Module``, what torch.compile and the
ONNX exporter are given):

    model(pixel_values) -> (logits, boxes[, layer_boxes[, proposal_logits]])

pixel_values: (N, 3, H, W) float32 RGB in 0..1 (``DETR_TRANSFORMS``: stretched to the
input size with an antialiased bilinear resize, rescaled by 1/255, not normalised: what
transformers' ``RTDetrImageProcessor`` and D-FINE's processor do). logits: (N, Q, C)
class logits of Q queries (sigmoid scores). boxes: (N, Q, 4) cx cy w h as fractions of
the input. Optional, for the learner's view of how a set is predicted: layer_boxes
(N, L + 1, Q, 4) cxcywh, the encoder's proposal of each query (index 0) and its box after
each of the L decoder layers; proposal_logits (N, Q) the encoder's best class logit of
each selected proposal (query selection kept the Q best of all encoder tokens).

Per frame: ``prepare`` (resize, RGB, /255 into a reused buffer) -> ``forward`` (the
network) -> ``finish`` (``postprocess.postprocess_set``: top-k over queries x classes,
threshold, no NMS; boxes in frame pixels). ``Detections.extra`` then holds
``rows["query"]`` (which query found each box) and, when the model gives them,
``"set_trace"``: a ``SetTrace`` of every query's proposal and per-layer boxes.

Precision (CPU only, backends/cpu_precision.py): float32; bfloat16 (network and input;
its outputs come back as float32 before the top-k); or int8 (after four float32
calibration frames, a copy with int8 convolutions and dynamically quantised linear
layers runs; ``self.model`` stays float32 for export and inspection).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.features.detect.backends import cpu_precision
from engine.features.detect.backends.compiling import BackgroundCompiling, wants_compile
from engine.features.detect.backends.detr.capabilities import DETR_TRANSFORMS, detr_capabilities
from engine.features.detect.backends.detr.compile_check import query_set_mismatch
from engine.features.detect.backends.detr.postprocess import cxcywh_to_xyxy, postprocess_set
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.types import Detections
from engine.models.catalog import Capabilities, Transforms
from engine.models.transforms import InputResolver

log = logging.getLogger(__name__)

@dataclass(frozen=True, eq=False)
class SetTrace:
    """How the model arrived at its set, for one frame (the learner's view).

    proposals: (Q, 4) float32 x1 y1 x2 y2 frame pixels: the encoder's top-Q boxes, the
    decoder's starting points. proposal_scores: (Q,) float32 sigmoid of each proposal's
    best encoder class logit (why it was selected). layer_boxes: (L, Q, 4) float32 xyxy
    frame pixels: each query's box after decoder layer 1..L (the last is the output).
    A detection's row is its query: ``detections.extra["rows"]["query"]``.
    """

    proposals: np.ndarray
    proposal_scores: np.ndarray | None
    layer_boxes: np.ndarray

    @property
    def num_layers(self) -> int:
        return int(self.layer_boxes.shape[0])

    def refinement(self, query: int) -> np.ndarray:
        """(L + 1, 4) xyxy frame pixels: the proposal, then the box after each layer."""
        return np.concatenate([self.proposals[query][None], self.layer_boxes[:, query]], axis=0)


class SetDetector(BackgroundCompiling, Detector):
    """A DETR-style ``model`` (see the module docstring for its contract) as a Detector.

    class_names: label per class index (C of them). transforms: how frames become its
    input (default ``DETR_TRANSFORMS``). capabilities: what may be changed (the input size
    when ``capabilities.input_size.adjustable``). top_k: (query, class) pairs considered
    per frame (None: Q, as transformers does). ``iou_threshold`` is unused: no NMS.
    precision: "fp32", "bf16" or "int8" (CPU modes, see ``cpu_precision.settle``);
    native_bf16_only=False runs bf16 on CPUs without native support too (slow; for
    measuring its agreement there). compile: run through ``torch.compile`` (inductor,
    frozen weights), compiled on a background thread while the eager network serves the
    first frames (backends/compiling.py; eager with one logged note when that fails; not
    with int8); None ("auto"): where ``options.auto_compile`` says it pays for this family.
    """

    #: The compiled network must predict the same set of queries, in any order (compile_check.py).
    compile_check = staticmethod(query_set_mismatch)

    def __init__(self, model: nn.Module, class_names: tuple[str, ...], *, name: str = "detr",
                 transforms: Transforms = DETR_TRANSFORMS, capabilities: Capabilities | None = None,
                 input_size: tuple[int, int] | None = None, top_k: int | None = None, precision: str = "fp32",
                 native_bf16_only: bool = True, compile: bool | None = False, **kwargs) -> None:
        super().__init__(class_names, **kwargs)
        self.name = name
        self.mode = cpu_precision.settle(precision, self.device, native_only=native_bf16_only, name=name)
        self.dtype = torch.bfloat16 if self.mode == "bf16" else torch.float32
        self.keep_float_copy(model, self.dtype)
        self.model = model.eval().to(self.device, self.dtype)
        self._network = self.model
        self._int8 = cpu_precision.Int8Switch(self.model, name=name, linears=True) if self.mode == "int8" else None
        #: "fp32", "bf16", "int8", or what "auto" chose and why (set by the loaders)
        self.precision_label = self.mode
        self.transforms = transforms
        self.capabilities = capabilities or detr_capabilities(transforms.size or (640, 640))
        self.top_k = top_k
        self._size: tuple[int, int] = tuple(transforms.size or (640, 640))  # type: ignore[assignment]
        if input_size is not None:
            self.set_input_size(*input_size)
        self._resolver = InputResolver(self.transforms, size=self._size, device=self.device, dtype=self.dtype)
        if self.mode != "int8" and wants_compile(compile, "detr", self.mode, self.device):
            self._network = self.background_compiled(self.model, self._size)

    @property
    def precision(self) -> str:
        """What the network computes in: "float32", "bfloat16" or "int8"."""
        return {"fp32": "float32", "bf16": "bfloat16"}.get(self.mode, self.mode)

    @property
    def input_size(self) -> tuple[int, int]:
        return self._size

    def set_input_size(self, width: int, height: int) -> None:
        rule = self.capabilities.input_size
        problem = rule.problem((width, height)) if rule is not None else "the input size is fixed"
        if problem is not None:
            raise DetectorError(f"{self.name}: input size {problem}")
        self._size = (int(width), int(height))
        self._resolver = InputResolver(self.transforms, size=self._size, device=self.device, dtype=self.dtype)

    def prepare(self, image_bgr: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """BGR uint8 (H, W, 3) -> ((1, 3, h, w) input, (W, H) of the frame)."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise DetectorError(f"expected a BGR uint8 image of shape (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}")
        x, _ = self._resolver(image_bgr)
        return x, (int(image_bgr.shape[1]), int(image_bgr.shape[0]))

    def forward(self, prepared: tuple[torch.Tensor, tuple[int, int]]) -> tuple[torch.Tensor, ...]:
        with torch.inference_mode():
            if self._int8 is not None and not self._int8.done:
                quantised = self._int8.feed(prepared[0])
                if quantised is not None:
                    self._network = quantised
            out = self._network(prepared[0])
        if not isinstance(out, (tuple, list)) or len(out) < 2:
            raise DetectorError(f"{self.name}: the model must return (logits, boxes, ...), got {type(out).__name__}")
        # bfloat16's 8-bit mantissa is too coarse for the top-k and box coordinates
        return tuple(o.float() if torch.is_tensor(o) and o.is_floating_point() else o for o in out)

    def finish(self, outputs: tuple[torch.Tensor, ...], prepared: tuple[torch.Tensor, tuple[int, int]]) -> Detections:
        frame_w, frame_h = prepared[1]
        logits, boxes = outputs[0], outputs[1]
        num_classes = int(logits.shape[-1])
        if num_classes != len(self.class_names):
            raise DetectorError(f"{self.name}: the model predicts {num_classes} classes but has "
                                f"{len(self.class_names)} names")
        found = postprocess_set(logits[0], boxes[0], (frame_w, frame_h), self.conf_threshold, top_k=self.top_k,
                                class_mask=self.class_mask(num_classes, logits.device))
        order = slice(0, self.max_detections)
        queries = found.queries[order].cpu().numpy().astype(np.int64)
        extra: dict = {"rows": {"query": queries}}
        if len(outputs) > 2:
            extra["set_trace"] = self._trace(outputs, frame_w, frame_h)
        return Detections(boxes=found.boxes[order].cpu().numpy().astype(np.float32),
                          scores=found.scores[order].cpu().numpy().astype(np.float32),
                          class_ids=found.labels[order].cpu().numpy().astype(np.int64),
                          class_names=self.class_names, frame_size=(frame_w, frame_h), model=self.name, extra=extra)

    @staticmethod
    def _trace(outputs: tuple[torch.Tensor, ...], frame_w: int, frame_h: int) -> SetTrace:
        scale = torch.tensor([frame_w, frame_h, frame_w, frame_h], dtype=torch.float32)
        layers = (cxcywh_to_xyxy(outputs[2][0].float().cpu()) * scale).numpy()
        scores = None if len(outputs) < 4 else torch.sigmoid(outputs[3][0].float().cpu()).numpy()
        return SetTrace(proposals=layers[0], proposal_scores=scores, layer_boxes=layers[1:])

    def detect(self, image_bgr: np.ndarray) -> Detections:
        prepared = self.prepare(image_bgr)
        return self.finish(self.forward(prepared), prepared)


def built_set_detector(network: nn.Module, names: tuple[str, ...], options, device, *, name: str,
                       transforms: Transforms, capabilities: Capabilities, choice) -> "SetDetector":
    """A ``SetDetector`` for a network a loader built, with ``options`` already resolved
    (``DetectorOptions.resolve``) and ``choice`` the precision choice it made: what auto
    chose is shown as the detector's ``precision_label``."""
    detector = SetDetector(network, names, name=name, transforms=transforms, capabilities=capabilities,
                           input_size=options.input_size, conf_threshold=options.conf_threshold,
                           precision=options.precision, compile=options.compile, device=device)
    if choice.requested == "auto":
        detector.precision_label = choice.label
    return detector
