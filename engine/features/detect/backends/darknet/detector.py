"""Darknet YOLO behind the ``Detector`` interface: cfg + .weights -> boxes in frame pixels.

Per frame: preprocess (resize or letterbox, RGB, /255) -> DarknetModel -> vectorised
decode of every head -> score = objectness x best class probability -> threshold ->
class-wise NMS (engine.core.boxes) -> boxes mapped back to the frame and clipped.
Each kept box remembers its head, grid cell and anchor for the learner's grid view.

Device handling: batch norm is folded into the convolutions; the model runs
channels_last; on CUDA in float16 with cudnn.benchmark (the input size is fixed between
calls), on the CPU in float32. Everything runs under torch.inference_mode().
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.core.boxes import class_nms, cxcywh_to_xyxy
from engine.features.detect.backends.compiling import BackgroundCompiling, wants_compile
from engine.features.detect.backends.darknet import cpu_fusion
from engine.features.detect.backends.darknet import int8 as int8_convs
from engine.features.detect.backends.darknet.capabilities import DARKNET_TRANSFORMS, darknet_capabilities
from engine.features.detect.backends.darknet.cfg import DarknetCfg, parse_cfg
from engine.features.detect.backends.darknet.decode import YoloDecoder
from engine.features.detect.backends.darknet.model import DarknetModel
from engine.features.detect.backends.darknet.weights_file import check_weights_size, load_darknet_weights
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.names import read_names
from engine.features.detect.options import DetectorOptions
from engine.features.detect.types import Detections, HeadGrid, InputMapping
from engine.models.catalog import Transforms
from engine.models.transforms import InputResolver

log = logging.getLogger(__name__)


def cpu_bf16_supported() -> bool:
    """True when this CPU runs bfloat16 convolutions natively (oneDNN's own check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_input_size(width: int, height: int) -> None:
    """Raise DetectorError unless (width, height) fits Darknet's input rule (its capabilities)."""
    problem = darknet_capabilities().input_size.problem((width, height))
    if problem is not None:
        raise DetectorError(f"input size {problem}")


def yolo_from_files(cfg_path: str | Path, weights_path: str | Path, names_path: str | Path | None,
                    options: DetectorOptions, *, name: str | None = None, device=None,
                    transforms: Transforms | None = None,
                    default_size: tuple[int, int] | None = None) -> "YoloDetector":
    """A YoloDetector from files, built as ``options`` say (already checked against the
    model's capabilities by the caller). default_size: the input size when ``options``
    names none (None: the cfg's). precision "auto" is resolved here, once, for this
    device and CPU (``DetectorOptions.resolve``); the detector's ``precision_label`` says
    what was chosen and why."""
    device_type = torch.device(device).type if device is not None else "cpu"
    options, choice = options.resolve(darknet_capabilities(), device_type)
    compile_ = wants_compile(options.compile, "darknet", options.precision, device_type)
    keywords = {"input_size": options.input_size or default_size, "letterbox": options.letterbox,
                "channels_last": options.channels_last, "compile": compile_,
                "bf16": options.precision == "bf16", "int8": options.precision == "int8",
                "conf_threshold": options.conf_threshold, "transforms": transforms}
    if options.iou_threshold is not None:
        keywords["iou_threshold"] = options.iou_threshold
    if name is not None:
        keywords["name"] = name
    detector = YoloDetector.from_files(cfg_path, weights_path, names_path, device=device, **keywords)
    if choice.requested == "auto":
        detector.precision_label = choice.label
    return detector


class YoloDetector(BackgroundCompiling, Detector):
    """A Darknet YOLO model ready to detect.

    ``input_size`` (width, height) defaults to the cfg's; any multiple of 32 works.
    ``letterbox`` defaults to the cfg's ``letter_box``. ``half`` defaults to True on
    CUDA only (float16 is slower than float32 on CPUs). ``channels_last`` defaults to
    True everywhere: cuDNN's tensor-core kernels and oneDNN's CPU convolutions both
    work in NHWC, so NCHW costs a layout conversion per layer (measured on a 2-core
    CPU: 63 -> 51 ms per yolov4-tiny frame). ``compile=True`` runs the network
    through ``torch.compile`` (inductor, frozen weights: the convolutions carry their
    activations and prepacked weights), compiled on a background thread while the eager
    network serves (engine.runtime.compiled): the first frames come at eager speed,
    later ones compiled; an input-size change compiles again the same way. A failed or
    disagreeing compile leaves the eager network serving, with one logged note.
    ``compile_state`` and ``precision_label`` say which runs.

    ``int8=True`` is the CPU "fast" mode: every convolution runs statically quantised
    (uint8 activations, per-channel int8 weights; see darknet/int8.py). Its activation
    ranges are measured on the first INT8_CALIBRATION_FRAMES frames the detector sees
    (those run in float32), then the network is quantised once. Scores and boxes move
    slightly: bench/detect.py --variants fp32,int8 reports by how much.
    """

    INT8_CALIBRATION_FRAMES = 4

    def __init__(self, model: DarknetModel, class_names: tuple[str, ...], *, name: str = "yolo",
                 input_size: tuple[int, int] | None = None, letterbox: bool | None = None,
                 half: bool | None = None, channels_last: bool | None = None, compile: bool = False,
                 bf16: bool = False, int8: bool = False, transforms: Transforms | None = None, **kwargs) -> None:
        super().__init__(class_names, **kwargs)
        if len(class_names) != model.num_classes:
            raise DetectorError(f"{len(class_names)} class names for a model with {model.num_classes} classes")
        self.name = name
        on_gpu = self.device.type == "cuda"
        self.half = on_gpu if half is None else bool(half and self.device.type != "cpu")
        self.channels_last = True if channels_last is None else bool(channels_last)
        self.bf16 = bool(bf16 and self.device.type == "cpu" and cpu_bf16_supported())
        if bf16 and not self.bf16:
            log.warning("bfloat16 was asked for, but %s has no native support; using float32", self.device)
        self.dtype = torch.float16 if self.half else torch.bfloat16 if self.bf16 else torch.float32
        self.int8 = bool(int8 and self.device.type == "cpu" and self.dtype == torch.float32 and not compile
                         and int8_convs.available())
        if int8 and not self.int8:
            log.warning("int8 was asked for, but needs float32 on a CPU with oneDNN's int8 ops, without compile; "
                        "using %s", self.dtype)
        if not model.fused:
            model.fuse()
        self.keep_float_copy(model, self.dtype)
        model = model.eval().to(self.device, self.dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if on_gpu:
            torch.backends.cudnn.benchmark = True  # input size is fixed between calls
        self.model = model
        self.decoder = YoloDecoder(model.heads)
        self.letterbox = model.cfg.letter_box if letterbox is None else bool(letterbox)
        self.transforms = transforms or DARKNET_TRANSFORMS
        size = input_size or (model.input_width, model.input_height)
        check_input_size(*size)
        self._input_size = (int(size[0]), int(size[1]))
        self._pre: InputResolver | None = None
        self._network = self.background_compiled(model, self._input_size, self.channels_last) if compile else self._packed(model) if self.dtype == torch.float32 else model
        self._calibration: list[torch.Tensor] | None = [] if self.int8 else None
        #: The precision as the user sees it: "fp32", "bf16", "int8", or what "auto" chose
        #: and why, e.g. "auto (fp32: no bf16 on this CPU)" (set by ``yolo_from_files``).
        self.precision_label = {"int8": "int8", "bfloat16": "bf16"}.get(self.precision, "fp32")

    @property
    def precision(self) -> str:
        """What the network computes in: "int8", "bfloat16", "float16" or "float32"."""
        return "int8" if self.int8 else str(self.dtype).replace("torch.", "")

    def _calibrate(self, x: torch.Tensor) -> None:
        """int8 mode: keep this input; after enough of them, switch to the quantised copy."""
        self._calibration.append(x.detach().clone())
        if len(self._calibration) < self.INT8_CALIBRATION_FRAMES:
            return
        network = copy.deepcopy(self.model)
        try:
            count = int8_convs.quantize_for_cpu(network, self._calibration)
        except (RuntimeError, ValueError) as exc:
            log.warning("int8 quantisation failed (%s); staying in float32", exc)
            count = 0
        self._calibration = None
        if count:
            self._network = network
            log.info("%s: %d convolutions quantised to int8", self.name, count)

    def _packed(self, model: DarknetModel) -> nn.Module:
        """On the CPU: a copy with fused, pre-packed convolutions (see cpu_fusion); the
        original stays untouched for inspection and for the grid view."""
        if self.device.type != "cpu" or not cpu_fusion.available():
            return model
        network = copy.deepcopy(model)
        example = torch.zeros(1, 3, self._input_size[1], self._input_size[0])
        if self.channels_last:
            example = example.contiguous(memory_format=torch.channels_last)
        count = cpu_fusion.pack_for_cpu(network, example)
        return network if count else model

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_files(cls, cfg_path: str | Path, weights_path: str | Path, names_path: str | Path | None = None,
                   *, class_names: tuple[str, ...] | None = None, **kwargs) -> "YoloDetector":
        """Build from a cfg, a .weights file and a names file (COCO names when neither
        ``names_path`` nor ``class_names`` is given and the model has 80 classes)."""
        cfg = parse_cfg(cfg_path)
        check_weights_size(cfg, weights_path)  # before any tensor memory is allocated
        model = DarknetModel(cfg)
        load_darknet_weights(model, weights_path)
        if class_names is None:
            if names_path is not None:
                class_names = read_names(names_path, expected=model.num_classes)
            elif model.num_classes == 80:
                from engine.features.detect.names import coco_names
                class_names = coco_names()
            else:
                raise DetectorError(f"{cfg_path} has {model.num_classes} classes: give the names file "
                                    "(one class per line) that goes with it")
        kwargs.setdefault("name", Path(cfg_path).stem)
        return cls(model, class_names, **kwargs)

    @property
    def cfg(self) -> DarknetCfg:
        return self.model.cfg

    # -- settings ----------------------------------------------------------------------
    @property
    def input_size(self) -> tuple[int, int]:
        return self._input_size

    def set_input_size(self, width: int, height: int) -> None:
        check_input_size(width, height)
        if (width, height) != self._input_size:
            self._input_size = (int(width), int(height))
            self._pre = None

    def grids(self) -> tuple[HeadGrid, ...]:
        w, h = self._input_size
        return tuple(HeadGrid(cols=w // hd.stride, rows=h // hd.stride, stride=hd.stride,
                              anchors=hd.anchors.copy(), mask=hd.mask) for hd in self.model.heads)

    def _preprocessor(self) -> InputResolver:
        if self._pre is None:
            self._pre = InputResolver(self.transforms, size=self._input_size,
                                      resize="letterbox" if self.letterbox else "stretch", device=self.device,
                                      dtype=self.dtype, channels_last=self.channels_last)
        return self._pre

    # -- inference ---------------------------------------------------------------------
    @torch.inference_mode()
    def rows(self, image_bgr: np.ndarray) -> tuple[np.ndarray, InputMapping]:
        """Every decoded prediction before thresholds, as float32 (N, 5 + C): cx, cy, w, h
        normalised to the network input, objectness, class probabilities — the layout of
        OpenCV's Darknet outputs (without its multiplication by objectness)."""
        prepared = self.prepare(image_bgr)
        raw = self.forward(prepared)
        mapping = prepared[1]
        rows = self.decoder.rows(raw, (self._input_size[1], self._input_size[0]))[0]
        return rows.float().cpu().numpy(), mapping

    # The three steps of ``detect``, separate so the live task can time each one.
    def prepare(self, image_bgr: np.ndarray) -> tuple[torch.Tensor, InputMapping, tuple[int, int]]:
        """BGR frame -> (network input on the device, input->frame mapping, (frame_w, frame_h))."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise DetectorError(f"expected a BGR uint8 image of shape (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}")
        x, mapping = self._preprocessor()(image_bgr)
        return x, mapping, (image_bgr.shape[1], image_bgr.shape[0])

    def forward(self, prepared: tuple[torch.Tensor, InputMapping, tuple[int, int]]) -> list[torch.Tensor]:
        """Run the network: raw head outputs (see DarknetModel.forward)."""
        if self._calibration is not None:
            self._calibrate(prepared[0])
        if self._network is not self.model:
            try:
                return self._network(prepared[0])
            except Exception as exc:  # a compile or packing failure surfaces on the first call
                log.warning("optimised model failed (%s); running eagerly from now on", exc)
                self._network = self.model
        return self.model(prepared[0])

    def finish(self, raw: list[torch.Tensor], prepared: tuple[torch.Tensor, InputMapping, tuple[int, int]]) -> Detections:
        """Decode, threshold, NMS, map to frame pixels."""
        _, mapping, (frame_w, frame_h) = prepared
        in_w, in_h = self._input_size
        if self.bf16:
            raw = [r.float() for r in raw]  # 8-bit mantissas are too coarse for box coordinates
        rows, row_index = self.decoder.candidate_rows(raw, (in_h, in_w), self.conf_threshold)
        probs = rows[:, 5:] * rows[:, 4:5]
        allowed = self.class_mask(probs.shape[1], probs.device)
        if allowed is not None:
            probs = probs.masked_fill(~allowed, 0)
        scores, class_ids = probs.max(dim=1)
        passed = torch.nonzero(scores > self.conf_threshold).squeeze(1)
        scores, class_ids = scores[passed].float(), class_ids[passed]
        boxes = rows[passed, :4].float()
        index = row_index[passed]
        # Normalised input coords -> input pixels -> frame pixels.
        dev = boxes.device
        boxes = cxcywh_to_xyxy(boxes) * torch.tensor([in_w, in_h, in_w, in_h], device=dev, dtype=torch.float32)
        boxes -= torch.tensor([mapping.pad_x, mapping.pad_y] * 2, device=dev, dtype=torch.float32)
        boxes /= torch.tensor([mapping.scale_x, mapping.scale_y] * 2, device=dev, dtype=torch.float32)
        keep = class_nms(boxes, scores, class_ids, self.iou_threshold, self.max_detections)
        boxes, scores, class_ids, index = boxes[keep], scores[keep], class_ids[keep], index[keep]
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, frame_w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, frame_h)
        origins = self.decoder.provenance(index, [(r.shape[2], r.shape[3]) for r in raw])
        return Detections(
            boxes=boxes.cpu().numpy().astype(np.float32, copy=False),
            scores=scores.cpu().numpy().astype(np.float32, copy=False),
            class_ids=class_ids.cpu().numpy().astype(np.int64, copy=False),
            class_names=self.class_names, frame_size=(frame_w, frame_h), model=self.name,
            origins=origins.cpu().numpy(), grids=self.grids(), mapping=mapping,
        )

    def warmup(self, runs: int = 1) -> None:
        # A blank frame says nothing about the activation ranges of real ones: in int8 mode
        # the calibration waits for the first real frames, wherever the detector runs.
        pending, self._calibration = self._calibration, None
        try:
            super().warmup(runs)
        finally:
            self._calibration = pending

    @torch.inference_mode()
    def detect(self, image_bgr: np.ndarray) -> Detections:
        prepared = self.prepare(image_bgr)
        return self.finish(self.forward(prepared), prepared)
