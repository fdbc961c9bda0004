"""Evaluate a trained classifier on a test set: a folder of class folders
(``FOLDER/<class>/<images>``, the layout ``teach train`` reads).

Each picture goes through the model as it does live (the centred square crop at the
model's input size); the predicted class is the most probable one. The result holds the
accuracy, per-class precision and recall, the confusion matrix (rows = true class,
columns = predicted class, in the model's label order) and every misclassified picture.

Class folders whose name is not one of the model's labels cannot be scored (the model
cannot answer that class): they are left out and named in ``unknown_folders``.
Pictures that cannot be read are left out and named in ``skipped``.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine.core.errors import Cancelled, SourceError, UserError
from engine.features.teach.imaging import to_batch
from engine.features.teach.model import TrainedModel
from engine.features.teach.training import dataset_from_folder
from engine.io.images import list_images

BATCH = 32


class EvaluationError(UserError, ValueError):
    """A test set that cannot be scored at all (no class folder the model knows)."""


@dataclass(frozen=True)
class Misclassified:
    """A picture the model got wrong: its file, true class, the predicted class and that
    class's probability (0..1)."""

    path: Path
    true_label: str
    predicted: str
    score: float


@dataclass(frozen=True)
class ClassifierEvaluation:
    """``labels``: the model's classes (index order); ``confusion`` (C, C) int64, rows =
    true class, columns = predicted class; ``misclassified``: the wrong ones, most
    confident first; ``unknown_folders``: class folders not among ``labels`` (left out);
    ``skipped``: (file, reason) for files that are not readable pictures."""

    labels: tuple[str, ...]
    confusion: np.ndarray
    misclassified: tuple[Misclassified, ...]
    unknown_folders: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        """Share of pictures classified correctly (0..1; NaN when none was scored)."""
        return float(np.trace(self.confusion) / self.total) if self.total else math.nan

    @property
    def precision(self) -> np.ndarray:
        """(C,) float64: of the pictures predicted as each class, the share that are; NaN
        for a class never predicted."""
        return _ratio(np.diag(self.confusion), self.confusion.sum(axis=0))

    @property
    def recall(self) -> np.ndarray:
        """(C,) float64: of each class's pictures, the share predicted as it; NaN for a
        class with no picture in the test set."""
        return _ratio(np.diag(self.confusion), self.confusion.sum(axis=1))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN -> None)."""
        def number(value: float) -> float | None:
            return None if math.isnan(value) else round(float(value), 6)

        support = self.confusion.sum(axis=1)
        return {
            "accuracy": number(self.accuracy),
            "pictures": self.total,
            "labels": list(self.labels),
            "classes": [{"name": name, "pictures": int(n), "precision": number(p), "recall": number(r)}
                        for name, n, p, r in zip(self.labels, support, self.precision, self.recall)],
            "confusion": {"rows": "true class", "columns": "predicted class", "matrix": self.confusion.tolist()},
            "misclassified": [{"image": str(m.path), "true": m.true_label, "predicted": m.predicted,
                               "score": round(m.score, 6)} for m in self.misclassified],
            "unknown_folders": list(self.unknown_folders),
            "skipped": [{"file": f, "reason": why} for f, why in self.skipped],
        }


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    out = np.full(len(top), np.nan)
    np.divide(top, bottom, out=out, where=bottom > 0)
    return out


def evaluate_classifier(model: TrainedModel, folder: str | os.PathLike[str], *,
                        progress: Callable[[int, int], None] | None = None,
                        cancel: threading.Event | None = None) -> ClassifierEvaluation:
    """Score ``model`` on the folder of class folders ``folder`` (module docstring).

    ``progress(done, total)`` after each batch of pictures; ``cancel`` set -> ``Cancelled``.
    Raises ``EvaluationError`` when no class folder is one of the model's labels,
    ``TrainingError`` when ``folder`` is not a folder of class folders.
    """
    data = dataset_from_folder(folder)
    labels = tuple(model.labels)
    index = {name: i for i, name in enumerate(labels)}
    unknown = tuple(name for name in data.classes if name not in index)
    items = [item for item in data.items if item.label in index]
    if not items:
        raise EvaluationError(
            f"{folder}: none of its class folders ({', '.join(data.classes)}) is a class of the model "
            f"({', '.join(labels)})" if unknown else f"{folder}: its class folders hold no pictures",
            "name each class folder exactly as the class it holds")
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    wrong: list[Misclassified] = []
    skipped = list(data.skipped)
    classifier = model.classifier.eval()
    for start in range(0, len(items), BATCH):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        batch, images = [], []
        for item in items[start:start + BATCH]:
            try:
                images.append(item.load())
            except SourceError as exc:
                skipped.append((str(item.path), str(exc)))
                continue
            batch.append(item)
        if images:
            with torch.inference_mode():
                probs = classifier(to_batch(images, model.input_size)).float().numpy()
            for item, p in zip(batch, probs):
                truth, best = index[item.label], int(p.argmax())
                confusion[truth, best] += 1
                if best != truth:
                    wrong.append(Misclassified(Path(item.path) if item.path else Path(item.id), item.label, labels[best], float(p[best])))
        if progress is not None:
            progress(min(start + BATCH, len(items)), len(items))
    wrong.sort(key=lambda m: -m.score)
    return ClassifierEvaluation(labels, confusion, tuple(wrong), unknown, tuple(skipped))


def is_class_folder_tree(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds no pictures itself but sub-folders that do (a test set of
    class folders, which ``teach evaluate`` scores, rather than pictures to classify)."""
    root = Path(folder)
    if not root.is_dir() or list_images(root):
        return False
    return any(list_images(d) for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
