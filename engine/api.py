"""CNN Studio's public Python API: load a model, call it on a frame.

    import cv2
    from engine.api import load_detector

    detector = load_detector("yolov4-tiny")          # a catalog name, or a Darknet .cfg path
    found = detector(cv2.imread("street.jpg"))        # Detections
    for label, score, box in zip(found.labels, found.scores, found.boxes):
        print(label, round(float(score), 2), box)    # box: x1, y1, x2, y2 in image pixels

Conventions: frames are numpy uint8 BGR arrays of shape (H, W, 3), as OpenCV reads them;
boxes are float32 x1, y1, x2, y2 in pixels of that frame (origin top-left). Every object
computes exactly what the app computes: a frame goes through the same step as the live
worker (``engine.runtime.worker.run_frame``) with the app's default settings.

Errors: a model that is not installed raises ``WeightsMissingError`` whose message gives
the command that installs it; an unknown name raises ``UnknownModelError`` (listing the
known ones); files that do not fit raise the engine's errors for them (``DetectorError``
and the Darknet file errors, ``ModelDirError``); a frame of the wrong type or shape, or a
bad argument, raises ``ValueError`` naming it.

Names in ``__all__`` are stable; anything else here may change.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from engine.core.frame import Frame
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.options import PRECISION_CHOICES
from engine.features.detect.types import Detections
from engine.models.cache import WeightsMissingError
from engine.models.catalog import UnknownModelError
from engine.runtime.device import choose_device
from engine.runtime.worker import Task, run_frame

__all__ = [
    "PRECISIONS",
    "Classification",
    "Detections",
    "FaceEmbedder",
    "ImageClassifier",
    "ObjectDetector",
    "UnknownModelError",
    "WeightsMissingError",
    "load_classifier",
    "load_detector",
    "load_face_embedder",
]

log = logging.getLogger(__name__)

#: The values of ``load_detector(precision=...)``: "auto", "fp32", "bf16", "int8".
PRECISIONS = PRECISION_CHOICES

PathLike = str | os.PathLike[str]


def _check_frame(image: np.ndarray, what: str = "frame") -> np.ndarray:
    """``image`` as a C-contiguous uint8 (H, W, 3) array; ValueError naming what is wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"the {what} must be a numpy array (uint8 BGR, shape (H, W, 3)), got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"the {what} must be uint8 BGR of shape (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


class _FrameRunner:
    """A loaded live task and a frame counter: each call is one frame through ``run_frame``."""

    def __init__(self, task: Task, device: torch.device) -> None:
        self.task = task
        self.device = device
        self._count = 0
        task.load(device)

    def run(self, image: np.ndarray, what: str = "frame"):
        frame = Frame(_check_frame(image, what), self._count, time.monotonic(), "api")
        self._count += 1
        return run_frame(self.task, frame, self.device).result


# -- detection -------------------------------------------------------------------------
class ObjectDetector:
    """A loaded object detector: ``det(frame)`` or ``det.detect(frame)`` -> ``Detections``.

    frame: uint8 BGR (H, W, 3). Detections: ``boxes`` (N, 4) float32 x1 y1 x2 y2 frame
    pixels, ``scores`` (N,) float32 in 0..1, ``class_ids`` (N,) int64, ``labels`` (N
    names), ``class_names``; best first within a class after non-maximum suppression.
    ``conf_threshold`` and ``iou_threshold`` (0..1) may be changed between calls.
    Built by ``load_detector``; one detector serves one thread at a time.
    """

    def __init__(self, detector: Detector, device: torch.device) -> None:
        from engine.features.detect.task import DetectionTask

        self._runner = _FrameRunner(DetectionTask.for_detector(detector), device)
        self._task = self._runner.task

    def __call__(self, frame: np.ndarray) -> Detections:
        return self.detect(frame)

    def detect(self, frame: np.ndarray) -> Detections:
        """Objects in ``frame`` (uint8 BGR, (H, W, 3))."""
        return self._runner.run(frame)

    @property
    def name(self) -> str:
        """The catalog name, or the .cfg file's stem."""
        return self.engine_detector.name

    @property
    def class_names(self) -> tuple[str, ...]:
        """The label of each class id."""
        return tuple(self.engine_detector.class_names)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """Network input (width, height) in pixels; None when the model resizes by itself."""
        return self.engine_detector.input_size

    @property
    def precision(self) -> str:
        """What the network computes in: "float32", "float16", "bfloat16" or "int8"."""
        return str(getattr(self.engine_detector, "precision", "float32"))

    @property
    def precision_label(self) -> str:
        """The precision as chosen: "fp32", "bf16", "int8", or what "auto" chose and why,
        e.g. "auto (fp32: no bf16 on this CPU)"."""
        return str(getattr(self.engine_detector, "precision_label", "fp32"))

    @property
    def device(self) -> torch.device:
        return self._runner.device

    @property
    def conf_threshold(self) -> float:
        """Minimum score of a reported detection, 0..1."""
        return self._task.settings.conf_threshold

    @conf_threshold.setter
    def conf_threshold(self, value: float) -> None:
        self._configure(conf_threshold=_unit(value, "conf_threshold"))

    @property
    def iou_threshold(self) -> float:
        """Non-maximum suppression drops a box overlapping a better one of its class by more than this IoU."""
        return self._task.settings.iou_threshold

    @iou_threshold.setter
    def iou_threshold(self, value: float) -> None:
        self._configure(iou_threshold=_unit(value, "iou_threshold"))

    @property
    def engine_detector(self) -> Detector:
        """The engine's detector behind this object (its interface is not part of the stable API)."""
        assert self._task.detector is not None
        return self._task.detector

    def export_onnx(self, path: PathLike, size: int | tuple[int, int] | None = None) -> Path:
        """Write the network to ``path`` as ONNX (float32, batch norm folded); returns the path.

        Input ``image`` float32 (N, 3, H, W), preprocessed as the model's transforms say
        (Darknet YOLO: RGB in [0, 1]), at ``size`` (width, height) or one side (default
        ``input_size``); outputs the network's raw outputs (Darknet: the heads ``head0``,
        ``head1``, ...; see ``engine.features.detect.onnx_export``). Raises DetectorError
        for a detector without a network that takes such an input.
        """
        from engine.features.detect.onnx_export import export_onnx

        return export_onnx(self.engine_detector, path, _input_size(size))

    def _configure(self, **changes) -> None:
        from dataclasses import replace

        self._task.configure(replace(self._task.settings, **changes))

    def __repr__(self) -> str:
        return f"ObjectDetector({self.name!r}, {self.precision_label}, {self.device})"


def _unit(value: float, what: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be between 0 and 1, got {value}")
    return value


def _input_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return size, size
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be an int or (width, height), got {size!r}") from None
    return width, height


def load_detector(name_or_path: PathLike, device: str | torch.device | None = None, precision: str = "auto",
                  size: int | tuple[int, int] | None = None, *, weights: PathLike | None = None,
                  names: PathLike | None = None, conf_threshold: float = 0.25,
                  iou_threshold: float = 0.45) -> ObjectDetector:
    """Load an object detector, ready to call on frames.

    name_or_path: a catalog name (``python main.py models list --task detect``; installed
        with ``models fetch NAME`` or ``models import NAME FILE``), or the path of a
        Darknet ``.cfg`` file. With a cfg, ``weights`` defaults to the ``.weights`` file
        of the same name beside it and ``names`` to the ``.names`` file beside it (COCO's
        80 names when there is none and the model has 80 classes).
    device: "auto"/None (CUDA, then Apple MPS, then the CPU; ``$CNN_STUDIO_DEVICE``
        overrides None), "cpu", "cuda", "cuda:1", "mps", or a ``torch.device``.
    precision: "auto" is what the app runs by default: the fastest mode that agrees with
        float32 (bf16 for YOLO on CPUs with AVX512-BF16 or AMX, float32 on other CPUs,
        float16 for YOLO on CUDA); "fp32" float32 everywhere; "bf16" and "int8" are the
        YOLO CPU fast modes (bf16 needs native CPU support; int8 calibrates on its first 4
        frames, which run in float32); the ``precision`` property says what was used and
        ``precision_label`` what was chosen and why.
    size: the YOLO network input, (width, height) or one side, multiples of 32 (default
        the cfg's); other models resize by themselves and refuse it.
    conf_threshold, iou_threshold: 0..1, the app's defaults.

    Raises WeightsMissingError (not installed: the message gives the install command),
    UnknownModelError, DetectorError (a model or file that cannot do what is asked),
    the Darknet cfg/weights/names errors for files that do not fit, ValueError for
    bad arguments, DeviceError for a device this machine lacks.
    """
    from engine.features.detect.factory import detector_from_files
    from engine.features.detect.factory import load_detector as build_catalog_detector
    from engine.features.detect.options import DetectorOptions
    from engine.models.catalog import catalog

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    where = device if isinstance(device, torch.device) else choose_device(device)
    text = os.fspath(name_or_path)
    entry = None
    if not text.lower().endswith(".cfg") and not Path(text).expanduser().is_file():
        if weights is not None or names is not None:
            raise ValueError("weights= and names= go with a .cfg path; catalog models bring their own files")
        entry = catalog().get(text)
        if entry.task != "detect":
            raise DetectorError(f"'{text}' is a {entry.task} model, not an object detector")
    # "auto" is the app's default, resolved when the detector is built (bf16 on CPUs with
    # AVX512-BF16/AMX for models that have it, else fp32; float16 on CUDA, which the
    # detector chooses by itself); anything else is checked against the model's capabilities.
    nms = entry is None or entry.capabilities.postprocess == "nms"
    options = DetectorOptions(input_size=_input_size(size), precision=precision,
                              conf_threshold=_unit(conf_threshold, "conf_threshold"),
                              iou_threshold=_unit(iou_threshold, "iou_threshold") if nms else None)
    if entry is not None:
        detector = build_catalog_detector(text, device=where, options=options)
    elif text.lower().endswith(".cfg"):
        cfg = Path(text).expanduser()
        weights_path = Path(weights).expanduser() if weights is not None else cfg.with_suffix(".weights")
        if not weights_path.is_file():
            raise DetectorError(f"{weights_path}: no such .weights file; put the weights trained with {cfg.name} "
                                "beside it under the same name, or pass weights=PATH")
        names_path = Path(names).expanduser() if names is not None else cfg.with_suffix(".names")
        detector = detector_from_files(cfg, weights_path, names_path if names is not None or names_path.is_file() else None,
                                       device=where, options=options)
    else:
        raise DetectorError(f"{text}: give the Darknet .cfg file (its .weights beside it, or weights=PATH) "
                            "or a catalog name (python main.py models list --task detect)")
    return ObjectDetector(detector, where)


# -- classification --------------------------------------------------------------------
class Classification(NamedTuple):
    """A classifier's answer: the best label, its probability (0..1) and every class's
    probabilities, float32 (C,) in the order of ``ImageClassifier.labels``."""

    label: str
    score: float
    probabilities: np.ndarray


class ImageClassifier:
    """A Teach model: ``clf(frame)`` -> ``Classification(label, score, probabilities)``.

    frame: uint8 BGR (H, W, 3); the classifier sees its largest centred square, resized
    to ``input_size`` (as in the Teach tab, without the tab's smoothing over frames).
    Built by ``load_classifier``.
    """

    def __init__(self, model_dir: PathLike, device: torch.device) -> None:
        from engine.features.teach.task import LiveSettings, TeachTask

        # No smoothing and no "uncertain" state: each frame is judged alone.
        self._runner = _FrameRunner(TeachTask(Path(model_dir), LiveSettings(smoothing=0.0, threshold=0.0)), device)
        self._model = self._runner.task.model

    def __call__(self, frame: np.ndarray) -> Classification:
        return self.classify(frame)

    def classify(self, frame: np.ndarray) -> Classification:
        """The class of ``frame`` (uint8 BGR, (H, W, 3))."""
        prediction = self._runner.run(frame)
        probabilities = np.asarray(prediction.probabilities, np.float32)
        best = int(np.argmax(probabilities))
        return Classification(prediction.labels[best], float(probabilities[best]), probabilities)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names, in the order of ``probabilities``."""
        return tuple(self._model.labels)

    @property
    def input_size(self) -> int:
        """Side of the square the network sees, in pixels."""
        return self._model.input_size

    @property
    def precision_label(self) -> str:
        """The precision as chosen: "fp32", "bf16", "int8", or what "auto" chose and why,
        e.g. "auto (fp32: no bf16 on this CPU)"."""
        return str(getattr(self.engine_detector, "precision_label", "fp32"))

    @property
    def device(self) -> torch.device:
        return self._runner.device

    def export_onnx(self, path: PathLike) -> Path:
        """Write the classifier to ``path`` as ONNX (+ labels.txt beside it); returns the path.

        Input ``image`` float32 (N, 3, S, S) RGB in [0, 1] (the centred square crop);
        output ``probabilities`` (N, C). Labels and preprocessing are in the metadata.
        """
        from engine.features.teach.export import export_onnx

        return export_onnx(self._model, path)

    def __repr__(self) -> str:
        return f"ImageClassifier({len(self.labels)} classes, {self.device})"


def load_classifier(model_dir: PathLike, device: str | torch.device | None = None) -> ImageClassifier:
    """Load a model folder saved by the Teach tab or ``python main.py teach train``.

    device: as for ``load_detector``. Raises ModelDirError (a ValueError) naming what is
    missing or damaged and what to do.
    """
    where = device if isinstance(device, torch.device) else choose_device(device)
    return ImageClassifier(model_dir, where)


# -- face embeddings -------------------------------------------------------------------
class FaceEmbedder:
    """A face embedder: ``emb(chip)`` or ``emb(frame, box)`` -> embedding (D,) float32.

    chip: a face already aligned as the app's gallery stores it, uint8 BGR (S, S, 3)
    (``engine.features.faces.align.align_face`` cuts one, S = 160). frame + box: the face at
    ``box`` (x1, y1, x2, y2 frame pixels; ``landmarks`` optional, (5, 2) pixels in
    YuNet's order) is aligned first, the way the Faces tab does it (dlib-resnet cuts
    dlib's own chip). Two embeddings belong to the same person when ``distance(a, b)``
    is at most ``threshold`` (the catalog's value for this model, in its ``metric``).
    Built by ``load_face_embedder``.
    """

    def __init__(self, embedder) -> None:
        self._embedder = embedder

    def __call__(self, image: np.ndarray, box: np.ndarray | None = None,
                 landmarks: np.ndarray | None = None) -> np.ndarray:
        return self.embed(image, box, landmarks)

    def embed(self, image: np.ndarray, box: np.ndarray | None = None,
              landmarks: np.ndarray | None = None) -> np.ndarray:
        """The embedding (D,) float32 of a chip, or of the face at ``box`` in a frame."""
        from engine.features.faces.align import align_face
        from engine.features.faces.types import FaceDetection

        emb = self._embedder
        if box is None:
            chip = _check_frame(image, "chip")
            if chip.shape[0] != chip.shape[1]:
                raise ValueError(f"a face chip is square, got {chip.shape[1]}x{chip.shape[0]} (pass the frame and a box instead)")
            return emb.embed([chip])[0]
        frame = _check_frame(image)
        face = FaceDetection(box=_box(box), landmarks=None if landmarks is None else _landmarks(landmarks))
        native = emb.native_chips(frame, [face])
        return (emb.embed_native(native) if native is not None else emb.embed([align_face(frame, face)]))[0]

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Distance of two embeddings in this model's ``metric`` (0 = identical)."""
        from engine.features.faces.embedders import distances

        return float(distances(np.asarray(a, np.float32), np.asarray(b, np.float32)[None, :], self.metric)[0])

    def same_person(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether two embeddings are within ``threshold`` of each other."""
        return self.distance(a, b) <= self.threshold

    @property
    def name(self) -> str:
        return self._embedder.name

    @property
    def dim(self) -> int:
        """Length D of an embedding."""
        return int(self._embedder.dim)

    @property
    def metric(self) -> str:
        """"cosine" (1 - cos), "euclidean" (L2 of unit vectors) or "l2" (L2 of raw vectors)."""
        return self._embedder.metric

    @property
    def threshold(self) -> float:
        """The largest ``distance`` that still means "same person"."""
        return float(self._embedder.default_threshold)

    def __repr__(self) -> str:
        return f"FaceEmbedder({self.name!r}, {self.dim}-d, {self.metric} <= {self.threshold:g})"


def _box(box) -> np.ndarray:
    values = np.asarray(box, np.float32).reshape(-1)
    if values.size != 4 or not np.isfinite(values).all() or values[2] <= values[0] or values[3] <= values[1]:
        raise ValueError(f"box must be x1, y1, x2, y2 pixels with x2 > x1 and y2 > y1, got {box!r}")
    return values


def _landmarks(points) -> np.ndarray:
    values = np.asarray(points, np.float32)
    if values.shape != (5, 2) or not np.isfinite(values).all():
        raise ValueError(f"landmarks must be (5, 2) pixels, got shape {values.shape}")
    return values


def load_face_embedder(name: str | None = None, device: str | torch.device | None = None) -> FaceEmbedder:
    """Load a face embedder: "dlib-resnet", "facenet-vggface2", "facenet-casia", "sface"
    or "lbp" (classical, always available); None picks the best one installed.

    Raises WeightsMissingError (with the install command) when the model is not
    installed and ValueError for an unknown name.
    """
    from engine.features.faces.detectors import FaceModelError
    from engine.features.faces.embedders import make_embedder

    where = device if isinstance(device, torch.device) else choose_device(device)
    try:
        embedder = make_embedder(name)
    except FaceModelError as exc:
        if isinstance(exc.__cause__, WeightsMissingError):
            raise exc.__cause__ from None  # one error type for "not installed" across the API
        raise
    embedder.load(where)
    return FaceEmbedder(embedder)
