"""Face detectors: dlib's MMOD CNN (+ its 5-point landmarks), YuNet (ONNX) and Haar (offline).

All take a uint8 BGR image (H, W, 3) and return ``list[FaceDetection]`` with boxes in
x1 y1 x2 y2 pixels of that image, largest face first. Detectors with files are built
by their catalog entry's builder (engine/features/faces/catalog.py); Haar ships with OpenCV.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from engine.features.faces.types import FaceDetection

log = logging.getLogger(__name__)

HAAR_NAME = "haar"
YUNET_NAME = "yunet"
MMOD_NAME = "dlib-mmod"
# Best first: the default detector is the first one installed.
DETECTOR_NAMES = (MMOD_NAME, YUNET_NAME, HAAR_NAME)


class FaceModelError(RuntimeError):
    """A face model file is missing, corrupt or unusable; the message says what to do."""


def _largest_first(faces: list[FaceDetection]) -> list[FaceDetection]:
    return sorted(faces, key=lambda f: f.width * f.height, reverse=True)


class FaceDetector:
    """Interface: ``detect(image) -> list[FaceDetection]``."""

    name: str = "detector"
    gives_landmarks: bool = False

    def detect(self, image: np.ndarray) -> list[FaceDetection]:  # pragma: no cover - interface
        raise NotImplementedError


class HaarDetector(FaceDetector):
    """Viola-Jones frontal-face cascade shipped with opencv-python (works offline).

    min_size: smallest face side in pixels; smaller faces are ignored because nothing
    useful can be recognised from them anyway.
    max_side: larger frames are scanned at this size (the cascade's cost grows with the
    pixel count); boxes are scaled back to the frame's pixels.
    """

    name = HAAR_NAME
    gives_landmarks = False

    def __init__(self, min_size: int = 40, scale_factor: float = 1.1, min_neighbors: int = 5,
                 max_side: int = 640) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FaceModelError(f"OpenCV's Haar cascade could not be loaded from {path}; reinstall opencv-python")
        self.min_size = min_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.max_side / max(gray.shape[:2]))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        min_size = max(24, int(round(self.min_size * scale)))  # 24 px is the cascade's own window
        # Equalising first makes the cascade much less sensitive to dim webcams.
        gray = cv2.equalizeHist(gray)
        rects = self._cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_size, min_size),
        )
        faces = [
            FaceDetection(box=np.array([x, y, x + w, y + h], dtype=np.float32) / scale, score=1.0)
            for (x, y, w, h) in (rects if len(rects) else [])
        ]
        return _largest_first(faces)


class YuNetDetector(FaceDetector):
    """OpenCV's YuNet (cv2.FaceDetectorYN) from an ONNX file; gives five landmarks.

    The network input size follows each image, so any frame size works.
    """

    name = YUNET_NAME
    gives_landmarks = True

    def __init__(self, model_path: Path, score_threshold: float = 0.7, nms_threshold: float = 0.3) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FaceModelError(
                f"YuNet model file not found: {model_path}; run 'python main.py models fetch yunet' "
                "or 'python main.py models import yunet FILE.onnx'"
            )
        try:
            self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, nms_threshold, 5000)
        except cv2.error as exc:
            raise FaceModelError(
                f"YuNet model file {model_path} could not be read by OpenCV (corrupt or not an ONNX file: "
                f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}); fetch or import it again"
            ) from exc
        self._size: tuple[int, int] | None = None

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        h, w = image.shape[:2]
        if self._size != (w, h):
            self._net.setInputSize((w, h))
            self._size = (w, h)
        _, raw = self._net.detect(image)
        faces: list[FaceDetection] = []
        for row in raw if raw is not None else []:
            x, y, bw, bh = (float(v) for v in row[:4])
            landmarks = np.asarray(row[4:14], dtype=np.float32).reshape(5, 2)
            faces.append(FaceDetection(np.array([x, y, x + bw, y + bh], np.float32), float(row[14]), landmarks))
        return _largest_first(faces)


class MmodDetector(FaceDetector):
    """dlib's MMOD CNN face detector (torch port, exact to dlib) + dlib's 5-point landmarks.

    upsample: how many times the frame is doubled first (dlib's ``upsample_num_times``);
    MMOD's window is 80 px, so faces under ~80 px need 1 (4x the pixels, slower).
    Landmarks are dlib's 5 points (scheme "dlib5"). Scores are dlib's confidences.
    """

    name = MMOD_NAME
    gives_landmarks = True

    def __init__(self, mmod, shape_predictor, upsample: int = 0) -> None:
        self.mmod = mmod
        self.shape_predictor = shape_predictor
        self.upsample = int(upsample)

    def to(self, device) -> "MmodDetector":
        self.mmod.to(device)
        return self

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        found = self.mmod.detect_bgr(image, self.upsample)
        if not found:
            return []
        points = self.shape_predictor.predict(image, np.array([d.rect for d in found]))
        faces = [FaceDetection(d.box, float(d.confidence), p, "dlib5") for d, p in zip(found, points)]
        return _largest_first(faces)


def default_detector_name(cache=None, embedder: str | None = None) -> str:
    """The detector that goes with ``embedder``: dlib's own when it is dlib-resnet (or
    unspecified) and installed, else Haar (the offline one)."""
    from engine.features.faces.models import is_installed

    if embedder in (None, "dlib-resnet"):
        try:
            if is_installed(MMOD_NAME, cache) and is_installed("dlib-5pt", cache):
                return MMOD_NAME
        except Exception:  # a broken catalog must not hide the offline detector
            log.exception("could not check whether %s is installed", MMOD_NAME)
    return HAAR_NAME


def make_detector(name: str | None = HAAR_NAME, cache=None, device=None, upsample: int = 0) -> FaceDetector:
    """Build a detector by name ("dlib-mmod", "yunet" or "haar"; None: the default).

    Files come from the weights cache through the catalog entry's builder. Raises
    ValueError for an unknown name, FaceModelError when the model is not installed.
    """
    name = name or default_detector_name(cache)
    if name == HAAR_NAME:
        return HaarDetector()
    if name not in DETECTOR_NAMES:
        raise ValueError(f"unknown face detector '{name}': choose one of {', '.join(DETECTOR_NAMES)}")
    from engine.models.catalog import catalog

    detector = catalog().get(name).build(cache, device)
    if isinstance(detector, MmodDetector):
        detector.upsample = int(upsample)
    return detector
