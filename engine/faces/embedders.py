"""Face embedders: map aligned face chips to vectors whose distance decides identity.

Every embedder reads chips (uint8 BGR, CHIP_SIZE x CHIP_SIZE, see align.py) and returns
an (N, D) float32 array of unit vectors. It declares its metric — "cosine" (distance
1 - cos, in [0, 2]) or "euclidean" (L2 between unit vectors, in [0, 2]) — and a default
threshold: a distance at or below it means "same person".

Names: "facenet-vggface2", "facenet-casia", "sface" (downloadable, see catalog.py) and
"lbp" (classical, offline, always available). The default is the best one installed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from engine.faces import lbp
from engine.faces.detectors import FaceModelError

log = logging.getLogger(__name__)

LBP_NAME = "lbp"
# Best first: the default embedder is the first one installed.
PREFERENCE = ("facenet-vggface2", "facenet-casia", "sface", LBP_NAME)
EMBEDDER_NAMES = PREFERENCE
METRICS = ("cosine", "euclidean")


class Embedder:
    """Interface of all embedders. Call ``load(device)`` once (in the thread that will use it)."""

    name: str = "embedder"
    title: str = ""
    dim: int = 0
    metric: str = "cosine"
    default_threshold: float = 0.5
    classical: bool = False

    def load(self, device: torch.device | None = None) -> None:
        """Build/move the model; cheap no-op for embedders that need nothing."""

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:  # pragma: no cover - interface
        """chips: N uint8 BGR (S, S, 3) images -> (N, dim) float32 unit vectors."""
        raise NotImplementedError

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


class FaceNetEmbedder(Embedder):
    """Our Inception-ResNet-v1 with a FaceNet checkpoint; batched on the chosen device."""

    metric = "euclidean"
    default_threshold = 1.1
    dim = 512

    def __init__(self, name: str, checkpoint, batch_size: int = 32) -> None:
        self.name = name
        self.title = "FaceNet " + ("VGGFace2" if "vgg" in name else "CASIA-WebFace") + " (neural network)"
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.model: torch.nn.Module | None = None
        self.device = torch.device("cpu")

    def load(self, device: torch.device | None = None) -> None:
        from engine.faces.facenet import CheckpointError, load_checkpoint

        self.device = device or torch.device("cpu")
        try:
            self.model = load_checkpoint(self.checkpoint).to(self.device)
        except CheckpointError as exc:
            raise FaceModelError(f"{exc}; fetch or import '{self.name}' again") from exc

    def preprocess(self, chips: Sequence[np.ndarray]) -> torch.Tensor:
        """chips -> (N, 3, 160, 160) float32 RGB, (x - 127.5) / 128."""
        arr = np.stack([cv2.resize(c, (160, 160), interpolation=cv2.INTER_AREA) if c.shape[0] != 160 else c for c in chips])
        tensor = torch.from_numpy(arr[..., ::-1].copy()).permute(0, 3, 1, 2).float()
        return (tensor - 127.5) / 128.0

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

    name = "sface"
    title = "SFace (OpenCV, neural network)"
    dim = 128
    metric = "cosine"
    default_threshold = round(1.0 - 0.363, 3)

    def __init__(self, model_path) -> None:
        self.model_path = model_path
        self._net = None

    def load(self, device: torch.device | None = None) -> None:
        from engine.faces.models import _short

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
        # The chip uses the same 5-point template as SFace, so a resize is the alignment.
        rows = [self._net.feature(cv2.resize(c, (112, 112), interpolation=cv2.INTER_AREA)).reshape(-1) for c in chips]
        vecs = np.stack(rows).astype(np.float32)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def embedder_info(name: str) -> dict:
    """What a picker shows before the model is built: title, metric, threshold, classical, dim."""
    if name == LBP_NAME:
        cls = LBPEmbedder
        return {"title": cls.title, "metric": cls.metric, "threshold": cls.default_threshold, "classical": True, "dim": cls.dim}
    if name not in EMBEDDER_NAMES:
        raise ValueError(f"unknown embedder '{name}': choose one of {', '.join(EMBEDDER_NAMES)}")
    if name == "sface":
        cls = SFaceEmbedder
        return {"title": cls.title, "metric": cls.metric, "threshold": cls.default_threshold, "classical": False, "dim": cls.dim}
    title = "FaceNet " + ("VGGFace2" if "vgg" in name else "CASIA-WebFace") + " (neural network)"
    return {"title": title, "metric": FaceNetEmbedder.metric, "threshold": FaceNetEmbedder.default_threshold,
            "classical": False, "dim": FaceNetEmbedder.dim}


def installed_embedders(cache=None) -> list[str]:
    """Names of the embedders usable now, best first (always ends with "lbp")."""
    from engine.faces.models import is_installed

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
    """Build the embedder ``name`` (None: the default). Does not load weights yet.

    Raises ValueError for an unknown name and FaceModelError (saying how to install it)
    when the model's files are missing.
    """
    name = name or default_embedder_name(cache)
    if name == LBP_NAME:
        return LBPEmbedder()
    if name not in EMBEDDER_NAMES:
        raise ValueError(f"unknown embedder '{name}': choose one of {', '.join(EMBEDDER_NAMES)}")
    from engine.faces.models import model_path

    path = model_path(name, cache)
    if name.startswith("facenet"):
        return FaceNetEmbedder(name, path)
    return SFaceEmbedder(path)


def distances(query: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Distances from one unit vector (D,) to each row of (N, D) unit vectors -> (N,) float32."""
    sims = vectors @ query
    if metric == "cosine":
        return np.maximum(1.0 - sims, 0.0).astype(np.float32)  # never negative, even after rounding
    if metric == "euclidean":
        return np.sqrt(np.maximum(2.0 - 2.0 * sims, 0.0)).astype(np.float32)
    raise ValueError(f"unknown metric '{metric}': use one of {', '.join(METRICS)}")
