"""The live Teach task: the trained classifier on every frame, smoothed over time.

Result per frame (``TeachPrediction``): the raw class probabilities, their exponential
moving average (``LiveSettings.smoothing`` = weight of the past, 0 = none), the winning
class and its smoothed probability, and ``uncertain`` when that is below
``LiveSettings.threshold``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.core.frame import Frame
from engine.features.teach.imaging import to_batch
from engine.features.teach.model import TrainedModel, load_model_dir
from engine.runtime.worker import Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSettings:
    """smoothing: 0..0.95, the share of the previous average kept each frame. threshold: 0..1."""

    smoothing: float = 0.6
    threshold: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.smoothing <= 0.95:
            raise ValueError(f"smoothing must be between 0 and 0.95, got {self.smoothing}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")


@dataclass(frozen=True)
class TeachPrediction:
    """labels: class names. probabilities/smoothed: float32 (C,). index: winner in ``smoothed``."""

    labels: tuple[str, ...]
    probabilities: np.ndarray
    smoothed: np.ndarray
    index: int
    score: float
    uncertain: bool

    @property
    def label(self) -> str | None:
        """The winning class, or None in the uncertain state."""
        return None if self.uncertain else self.labels[self.index]


class Smoother:
    """Exponential moving average of probability vectors; restarts when the class count changes."""

    def __init__(self) -> None:
        self.state: np.ndarray | None = None

    def update(self, probs: np.ndarray, smoothing: float) -> np.ndarray:
        if self.state is None or self.state.shape != probs.shape:
            self.state = probs.copy()
        else:
            self.state = smoothing * self.state + (1.0 - smoothing) * probs
        return self.state


def decide(labels: tuple[str, ...], probs: np.ndarray, smoothed: np.ndarray, threshold: float) -> TeachPrediction:
    index = int(np.argmax(smoothed))
    score = float(smoothed[index])
    return TeachPrediction(labels, probs, smoothed.astype(np.float32), index, score, score < threshold)


class TeachTask(Task):
    """Classify each frame with a trained model (a ``TrainedModel`` or a model folder)."""

    name = "teach"

    def __init__(self, model: TrainedModel | str | Path, settings: LiveSettings = LiveSettings()) -> None:
        self._source = model
        self.settings = settings
        self.model: TrainedModel | None = None
        self.device = torch.device("cpu")
        self._smoother = Smoother()

    def configure(self, settings: LiveSettings) -> None:
        self.settings = settings

    def load(self, device: torch.device) -> None:
        model = self._source if isinstance(self._source, TrainedModel) else load_model_dir(self._source)
        self.device = device
        self.model = model
        # The GUI keeps using its own copy on the CPU; the worker gets one on its device.
        self._net = model.classifier if device.type == "cpu" else _copy_to(model.classifier, device)
        self._net.eval()
        with torch.inference_mode():
            self._net(torch.zeros(1, 3, model.input_size, model.input_size, device=device))

    def preprocess(self, frame: Frame) -> torch.Tensor:
        return to_batch([frame.image], self.model.input_size).to(self.device)

    def infer(self, inputs: torch.Tensor) -> np.ndarray:
        return self._net(inputs)[0].float().cpu().numpy()

    def postprocess(self, outputs: np.ndarray, frame: Frame) -> TeachPrediction:
        settings = self.settings
        smoothed = self._smoother.update(outputs, settings.smoothing)
        return decide(tuple(self.model.labels), outputs, smoothed, settings.threshold)

    def close(self) -> None:
        self._net = None


def _copy_to(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    import copy

    return copy.deepcopy(module).to(device)
