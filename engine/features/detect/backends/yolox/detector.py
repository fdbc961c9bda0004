"""YOLOX behind the ``Detector`` interface, on Megvii's own inference path.

Per frame: letterbox into a grey (114) canvas at its top-left corner, BGR, 0..255 floats
(``YOLOX_TRANSFORMS`` through engine.models.transforms, as YOLOX's ``preproc``) ->
YoloxModel (raw rows) -> the decoded grid (decode.py) -> score = objectness x best class
probability, kept when >= the confidence threshold -> class-wise NMS in input pixels ->
boxes divided by the letterbox ratio and clipped to the frame. Each kept box remembers the
level and grid point that predicted it (``Detections.origins``; ``extra["anchor_free"]``
marks the grids as point lattices) for the learner's grid view (see course.py).

The network runs with batch norm folded into its convolutions, under
torch.inference_mode(); ``self.model`` takes float (N, 3, H, W) and returns the raw
(N, A, 5 + C) tensor, so it can be exported or compiled as it is. Precision (CPU only,
see backends/cpu_precision.py): float32; bfloat16 (the network and its input, outputs
back to float32 before decoding); or int8 (after four float32 calibration frames, a
quantised copy of every convolution runs; ``self.model`` stays float32).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from engine.core.boxes import class_nms
from engine.features.detect.backends import cpu_precision
from engine.features.detect.backends.compiling import BackgroundCompiling, wants_compile
from engine.features.detect.backends.yolox.capabilities import yolox_capabilities, yolox_transforms
from engine.features.detect.backends.yolox.decode import GridDecoder, head_grids
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.types import Detections, HeadGrid
from engine.models.transforms import InputMapping, InputResolver
from engine.models.yolox.model import BaseConv, YoloxModel

log = logging.getLogger(__name__)

Prepared = tuple[torch.Tensor, InputMapping, tuple[int, int]]


def conv_act_pairs(model: YoloxModel):
    """(block, "conv", "act") of every batch-norm-folded ``BaseConv``: int8 mode fuses its SiLU."""
    return [(m, "conv", "act") for m in model.modules() if isinstance(m, BaseConv)]


class YoloxDetector(BackgroundCompiling, Detector):
    """A YOLOX network ready to detect.

    input_size: (width, height), multiples of 32 (default: the architecture's test size).
    letterbox: True (Megvii's top-left letterbox, the default) or False (stretch the frame).
    channels_last: NHWC memory layout (default True on the CPU, as oneDNN convolutions
    prefer). compile: run through ``torch.compile`` (inductor, frozen weights), compiled on a
    background thread while the eager network serves the first frames (backends/compiling.py;
    eager with one logged note when that fails); None ("auto"): where
    ``options.auto_compile`` says compiling pays for YOLOX in the precision that runs.
    precision: "fp32", "bf16" or "int8" (CPU modes; see ``cpu_precision.settle`` for when
    float32 runs instead); native_bf16_only=False runs bf16 on CPUs without native support
    too (emulated, slow: for measuring its agreement there). int8 excludes compile.
    """

    def __init__(self, model: YoloxModel, class_names: tuple[str, ...], *, name: str = "yolox",
                 input_size: tuple[int, int] | None = None, letterbox: bool | None = None,
                 channels_last: bool | None = None, compile: bool | None = False, precision: str = "fp32",
                 native_bf16_only: bool = True, **kwargs) -> None:
        super().__init__(class_names, **kwargs)
        if len(self.class_names) != model.num_classes:
            raise DetectorError(f"{len(self.class_names)} class names for a YOLOX model with "
                                f"{model.num_classes} classes")
        self.name = name
        if not model.fused:
            model.fuse()
        self.channels_last = self.device.type == "cpu" if channels_last is None else bool(channels_last)
        self.mode = cpu_precision.settle(precision, self.device, native_only=native_bf16_only, name=name)
        compile = wants_compile(compile, "yolox", self.mode, self.device)
        if self.mode == "int8" and compile:
            log.warning("%s: int8 runs without torch.compile; not compiling", name)
            compile = False
        self.dtype = torch.bfloat16 if self.mode == "bf16" else torch.float32
        self.keep_float_copy(model, self.dtype)
        model = model.eval().to(self.device, self.dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.letterbox = True if letterbox is None else bool(letterbox)
        self.decoder = GridDecoder()
        size = input_size or model.arch.test_size
        self._check_size(*size)
        self._input_size = (int(size[0]), int(size[1]))
        self._pre: InputResolver | None = None
        self._network = self.background_compiled(model, self._input_size, self.channels_last) if compile else model
        self._int8 = cpu_precision.Int8Switch(model, name=name, pairs=conv_act_pairs) if self.mode == "int8" else None
        #: The precision as the user sees it: "fp32", "bf16", "int8", or what "auto" chose
        #: and why (set by ``yolox_from_pth``).
        self.precision_label = self.mode

    @staticmethod
    def _check_size(width: int, height: int) -> None:
        problem = yolox_capabilities().input_size.problem((width, height))
        if problem is not None:
            raise DetectorError(f"input size {problem}")

    @property
    def precision(self) -> str:
        """What the network computes in: "float32", "bfloat16" or "int8"."""
        return {"fp32": "float32", "bf16": "bfloat16"}.get(self.mode, self.mode)

    @property
    def input_size(self) -> tuple[int, int]:
        return self._input_size

    def set_input_size(self, width: int, height: int) -> None:
        self._check_size(width, height)
        if (width, height) != self._input_size:
            self._input_size = (int(width), int(height))
            self._pre = None

    def grids(self) -> tuple[HeadGrid, ...]:
        return head_grids(self._input_size)

    def _preprocessor(self) -> InputResolver:
        if self._pre is None:
            self._pre = InputResolver(yolox_transforms(self._input_size),
                                      resize="letterbox" if self.letterbox else "stretch", device=self.device,
                                      dtype=self.dtype, channels_last=self.channels_last)
        return self._pre

    # The three steps of ``detect``, separate so the live task can time each one.
    def prepare(self, image_bgr: np.ndarray) -> Prepared:
        """BGR uint8 (H, W, 3) -> (network input on the device, input->frame mapping, (frame_w, frame_h))."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise DetectorError(f"expected a BGR uint8 image of shape (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}")
        x, mapping = self._preprocessor()(image_bgr)
        return x, mapping, (image_bgr.shape[1], image_bgr.shape[0])

    def forward(self, prepared: Prepared) -> torch.Tensor:
        """The raw (1, A, 5 + C) rows (see engine.models.yolox.model)."""
        if self._int8 is not None and not self._int8.done:
            quantised = self._int8.feed(prepared[0])
            if quantised is not None:
                self._network = quantised
                return self._network(prepared[0])
        if self._network is not self.model:
            try:
                return self._network(prepared[0])
            except Exception as exc:  # a compile failure surfaces on the first call
                log.warning("compiled model failed (%s); running eagerly from now on", exc)
                self._network = self.model
        return self.model(prepared[0])

    def finish(self, raw: torch.Tensor, prepared: Prepared) -> Detections:
        """Threshold, decode, class-wise NMS, map to frame pixels (Megvii's ``postprocess``)."""
        _, mapping, (frame_w, frame_h) = prepared
        rows = raw[0].float()
        conf = self.conf_threshold
        # score = objectness x class probability <= objectness: only rows whose objectness
        # reaches the threshold can pass, so the rest are never decoded.
        index = torch.nonzero(rows[:, 4] >= conf).squeeze(1)
        picked = rows[index]
        probs = picked[:, 5:]
        allowed = self.class_mask(probs.shape[1], probs.device)
        if allowed is not None:
            probs = probs.masked_fill(~allowed, 0)
        class_conf, class_ids = probs.max(dim=1)
        scores = picked[:, 4] * class_conf
        passed = torch.nonzero(scores >= conf).squeeze(1)
        index, picked, scores, class_ids = index[passed], picked[passed], scores[passed], class_ids[passed]
        boxes = self.decoder.boxes(picked, index, self._input_size)
        keep = class_nms(boxes, scores, class_ids, self.iou_threshold, self.max_detections)
        boxes, scores, class_ids, index = boxes[keep], scores[keep], class_ids[keep], index[keep]
        dev = boxes.device
        boxes = boxes - torch.tensor([mapping.pad_x, mapping.pad_y] * 2, device=dev, dtype=torch.float32)
        boxes = boxes / torch.tensor([mapping.scale_x, mapping.scale_y] * 2, device=dev, dtype=torch.float32)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, frame_w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, frame_h)
        grids = self.grids()
        origins = self.decoder.provenance(index, self._input_size)
        return Detections(
            boxes=boxes.cpu().numpy().astype(np.float32, copy=False),
            scores=scores.cpu().numpy().astype(np.float32, copy=False),
            class_ids=class_ids.cpu().numpy().astype(np.int64, copy=False),
            class_names=self.class_names, frame_size=(frame_w, frame_h), model=self.name,
            origins=origins, grids=grids, mapping=mapping,
            # Per-box point centres follow from origins and grids (decode.point_centres), so
            # they stay right when the detections are selected/filtered.
            extra={"anchor_free": True},
        )

    @torch.inference_mode()
    def detect(self, image_bgr: np.ndarray) -> Detections:
        prepared = self.prepare(image_bgr)
        return self.finish(self.forward(prepared), prepared)
