"""Training a small detector (YOLOX nano or tiny) on labelled pictures, on this machine.

``train_detector(dataset, settings, progress=..., cancel=..., pretrained=...)`` runs on
the calling thread (the GUI calls it from a worker thread) and returns a
``TrainedDetector``:

1. the pictures are read once and kept, scaled to fit the input square; a held-out
   split (``val_fraction``, chosen by ``seed``) is never trained on;
2. the network starts from Megvii's COCO weights when ``pretrained`` (the installed
   ``.pth``) is given and ``untrained`` is not set (class layers replaced for your
   classes), else from scratch (``TrainedDetector.info["start"]`` says which);
3. on the app's device (``engine.runtime.device.choose_device``: a GPU when there is
   one), each step trains on ``BATCH`` augmented inputs (``augment.py``: mosaic collage, random
   scale and place, flips, colour), loss and label assignment of ``loss.py``, AdamW with
   a warm-up and a cosine decay, an exponential moving average of the weights (what is
   evaluated and saved: steadier than the last step's weights); the collage is switched
   off for the last ``PLAIN_TAIL`` of training, so the network ends on whole pictures;
4. every few epochs (about ``EVAL_SHARE`` of the time) and at the end, mAP@0.5 and
   mAP@0.5:0.95 on the held-out split (teach's ``evaluate_detector``).

Length: ``epochs``, or ``minutes`` (the schedule then follows the clock), or neither:
``default_epochs`` (enough steps for a few dozen pictures to be learnt). ``progress`` is
called after every step with a ``DetectorTrainProgress`` (global step / steps, the loss
and its parts, the held-out mAP when just measured, elapsed and remaining seconds).
``cancel`` set -> ``Cancelled`` within a step. Reproducible for a given seed and thread
count (split, initialisation, augmentation and batch order follow ``seed``).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.core.errors import Cancelled, UserError
from engine.features.teach.detection.augment import Augmenter, Sample, fit_scale
from engine.features.teach.detection.labels import DetectionDataset
from engine.features.teach.detection.loss import detection_loss
from engine.features.teach.detection.trained import TrainedDetector, load_trained_detector
from engine.models.yolox.grid import grid_points
from engine.models.yolox.model import YoloxModel, build_yolox

log = logging.getLogger(__name__)

ARCHS = ("nano", "tiny")
BATCH = 8
#: Optimiser steps when neither epochs nor minutes are given. Measured (bench/teach_detect.py,
#: 60 synthetic scenes from scratch, nano, 2 shared cores): at 320 px, 480 steps in 486 s,
#: held-out mAP@0.5 1.0 from step 240, mAP@0.5:0.95 0.876 at the end; at 256 px, 600 steps
#: took 988 s on a machine loaded 5x over (so not more steps than this).
DEFAULT_STEPS = 480
MAX_EPOCHS = 10_000
LR_SCRATCH = 2e-3
LR_FINETUNE = 1e-3
WEIGHT_DECAY = 5e-4
WARMUP_SHARE = 0.05
PLAIN_TAIL = 0.15
EVAL_SHARE = 0.08


class DetectorTrainingError(UserError, ValueError):
    """Training cannot start: the message says why and what to do."""


@dataclass(frozen=True)
class DetectorTrainSettings:
    """How the detector is trained.

    arch: "nano" or "tiny"; input_size: the square input side in pixels (multiple of 32);
    epochs or minutes: how long (at most one of them; neither: ``default_epochs``);
    untrained: from scratch even when COCO weights are given; augment: the augmentations
    of ``augment.py`` (off: plain letterboxed pictures); val_fraction: share of the
    pictures held out for evaluation; seed: the split, initialisation and augmentation.
    """

    arch: str = "nano"
    input_size: int = 320
    epochs: int | None = None
    minutes: float | None = None
    untrained: bool = False
    augment: bool = True
    val_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise DetectorTrainingError(f"architecture {self.arch!r} is not trained here", f"use one of {', '.join(ARCHS)}")
        if not (isinstance(self.input_size, int) and 64 <= self.input_size <= 1280 and self.input_size % 32 == 0):
            raise DetectorTrainingError(f"input size {self.input_size} is not a multiple of 32 from 64 to 1280",
                                        "use e.g. 256, 320 or 416")
        if self.epochs is not None and self.minutes is not None:
            raise DetectorTrainingError("give epochs or minutes, not both")
        if self.epochs is not None and not 1 <= self.epochs <= MAX_EPOCHS:
            raise DetectorTrainingError(f"epochs {self.epochs} is not from 1 to {MAX_EPOCHS}")
        if self.minutes is not None and not 0 < self.minutes <= 24 * 60:
            raise DetectorTrainingError(f"minutes {self.minutes} is not above 0 and at most a day")
        if not 0 <= self.val_fraction < 1:
            raise DetectorTrainingError(f"val_fraction {self.val_fraction} is not from 0 to below 1")


@dataclass(frozen=True)
class DetectorTrainProgress:
    """One report, after each optimiser step.

    epoch / epochs: the current epoch (1-based) of the planned number (in minutes mode the
    plan is re-estimated as it goes); step / steps: optimiser steps done / planned, over
    the whole training; loss: the step's total loss, losses: its parts ("box",
    "objectness", "classes"); map50 / map50_95: held-out mAP, only in the report of a step
    after which it was measured (else None); elapsed_s, eta_s: seconds so far and left.
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    losses: dict[str, float]
    map50: float | None
    map50_95: float | None
    elapsed_s: float
    eta_s: float | None


@dataclass
class _Data:
    train: list[Sample]
    held_out: DetectionDataset
    skipped: list[str] = field(default_factory=list)


def _load(dataset: DetectionDataset, settings: DetectorTrainSettings) -> _Data:
    """The training pictures in memory (scaled to fit the input square) and the held-out split."""
    import cv2

    from engine.io.images import read_image

    if not dataset.images:
        raise DetectorTrainingError("there are no labelled pictures", "label some pictures (draw boxes) first")
    if dataset.box_count == 0:
        raise DetectorTrainingError("no picture has a box", "draw a box around each object in some pictures first")
    if settings.val_fraction > 0 and len(dataset.images) >= 2:
        train_set, held_out = dataset.split(settings.val_fraction, settings.seed)
    else:
        train_set, held_out = dataset, DetectionDataset(dataset.classes, ())
    samples, skipped = [], []
    for item in train_set.images:
        try:
            image = read_image(item.image_path)
        except UserError as exc:
            skipped.append(f"{item.image_path}: {exc.what or exc} (left out)")
            continue
        scale = min(1.0, fit_scale(image.shape[1], image.shape[0], settings.input_size) * 1.2)
        boxes = item.boxes * (np.array([image.shape[1] / item.width, image.shape[0] / item.height] * 2, np.float32))
        if scale < 1.0:
            image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                               interpolation=cv2.INTER_AREA)
            boxes = boxes * scale
        samples.append((image, boxes.astype(np.float32), item.class_ids))
    if not any(len(s[1]) for s in samples):
        raise DetectorTrainingError("no training picture has a box", "label more pictures (draw boxes)")
    return _Data(samples, held_out, skipped)


def _new_model(settings: DetectorTrainSettings, classes: int, pretrained: Path | None) -> tuple[YoloxModel, str]:
    from engine.models.yolox.pretrained import init_class_layers, pretrained_model

    if pretrained is not None and not settings.untrained:
        return pretrained_model(pretrained, settings.arch, classes), f"COCO YOLOX-{settings.arch} weights ({Path(pretrained).name})"
    model = build_yolox(settings.arch, classes)
    init_class_layers(model)
    return model, "from scratch (random weights)"


def installed_coco_weights(arch: str) -> Path | None:
    """The installed released COCO ``.pth`` of YOLOX-``arch`` (catalog entry
    ``yolox-<arch>`` in the weights cache), or None when it is not installed."""
    from engine.models.cache import default_cache
    from engine.models.catalog import catalog

    name = f"yolox-{arch}"
    if name not in catalog():
        return None
    entry = catalog().get(name)
    cache = default_cache()
    return cache.path(entry) if cache.is_installed(entry) else None


def steps_per_epoch(train_count: int) -> int:
    return max(1, math.ceil(train_count / BATCH))


def default_epochs(train_count: int) -> int:
    """Epochs when neither epochs nor minutes are given: about DEFAULT_STEPS steps."""
    return int(min(MAX_EPOCHS, max(10, round(DEFAULT_STEPS / steps_per_epoch(train_count)))))


class _Trainer:
    """The model, its moving average, the optimiser and the schedule."""

    def __init__(self, model: YoloxModel, lr: float, size: int, device: torch.device | None = None) -> None:
        self.device = device = device or torch.device("cpu")
        self.model = model.to(device).train()
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        decay, plain = [], []
        for name, p in model.named_parameters():
            (decay if p.ndim == 4 else plain).append(p)  # no decay on batch norm and biases
        self.optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                            {"params": plain, "weight_decay": 0.0}], lr=lr)
        self.lr = lr
        self.updates = 0
        self.cells, self.strides = grid_points((size, size), device)

    def lr_at(self, fraction: float) -> float:
        """Warm-up then cosine from ``lr`` to 5 % of it; ``fraction`` of training done (0..1)."""
        if fraction < WARMUP_SHARE:
            return self.lr * (0.1 + 0.9 * fraction / WARMUP_SHARE)
        f = (fraction - WARMUP_SHARE) / (1 - WARMUP_SHARE)
        return self.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(f, 1.0))))

    def step(self, batch: list[Sample], fraction: float):
        x = torch.from_numpy(np.stack([s[0] for s in batch])).to(self.device).permute(0, 3, 1, 2).float()
        truths = [(torch.from_numpy(s[1]).float().to(self.device), torch.from_numpy(s[2]).long().to(self.device))
                  for s in batch]
        for group in self.optimiser.param_groups:
            group["lr"] = self.lr_at(fraction)
        parts = detection_loss(self.model(x, logits=True), self.cells, self.strides, truths)
        self.optimiser.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optimiser.step()
        self._update_ema()
        return parts

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.updates += 1
        d = min(0.998, (1 + self.updates) / (10 + self.updates))
        for e, p in zip(self.ema.state_dict().values(), self.model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(p.detach(), alpha=1 - d)
            else:
                e.copy_(p)


@torch.no_grad()
def recalibrated(model: YoloxModel, samples: list[Sample], size: int, limit: int = 64) -> YoloxModel:
    """A CPU copy of ``model`` whose batch-norm statistics are measured afresh on (up to
    ``limit``) letterboxed training pictures. The running averages lag the weights (each
    step moves them by 3 %), which costs a short training most of its accuracy; exact
    statistics of the final weights do not lag."""
    from torch import nn

    from engine.features.teach.detection.augment import letterbox

    copy_ = copy.deepcopy(model).cpu()
    norms = [m for m in copy_.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the batches below
    copy_.train()
    pictures = [letterbox(*s, size)[0] for s in samples[:limit]]
    for start in range(0, len(pictures), BATCH):
        copy_(torch.from_numpy(np.stack(pictures[start:start + BATCH])).permute(0, 3, 1, 2).float())
    for bn, original in zip(norms, (m for m in model.modules() if isinstance(m, nn.BatchNorm2d))):
        bn.momentum = original.momentum
    return copy_.eval()


def _evaluate(model: YoloxModel, data: _Data, classes: tuple[str, ...], size: int, cancel: threading.Event | None):
    """Held-out evaluation of ``model`` (already recalibrated), None when nothing is held out."""
    from engine.features.teach.detection.evaluate import evaluate_detector

    if not data.held_out.images:
        return None
    detector = TrainedDetector(model, classes, "", size)
    return evaluate_detector(detector.predict, data.held_out, cancel=cancel)


def _time_steps(model: YoloxModel, samples: list[Sample], settings: DetectorTrainSettings, count: int = 2) -> float:
    """Seconds per optimiser step, measured on a copy (the first step, which warms up, not counted)."""
    from engine.runtime.device import choose_device

    trainer = _Trainer(copy.deepcopy(model), 1e-4, settings.input_size, choose_device(None))
    augmenter = Augmenter(settings.input_size, settings.seed, enabled=settings.augment)
    batch_items = [samples[i % len(samples)] for i in range(BATCH)]
    times = []
    for _ in range(count + 1):
        start = time.perf_counter()
        trainer.step([augmenter.sample(batch_items, i) for i in range(BATCH)], 0.5)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def estimate_training_seconds(dataset: DetectionDataset, settings: DetectorTrainSettings) -> float:
    """Seconds the training will take on this machine (a couple of steps timed)."""
    data = _load(dataset, settings)
    held = len(data.held_out.images)
    if settings.minutes is not None:
        return settings.minutes * 60 + held * 0.1
    model = build_yolox(settings.arch, len(dataset.classes))
    per_step = _time_steps(model, data.train, settings)
    epochs = settings.epochs or default_epochs(len(data.train))
    steps = epochs * steps_per_epoch(len(data.train))
    evaluation = held * per_step / BATCH / 2  # one forward per picture, ~1/3 of a training step's cost
    return per_step * steps * (1 + EVAL_SHARE) + evaluation


def train_detector(dataset: DetectionDataset, settings: DetectorTrainSettings = DetectorTrainSettings(), *,
                   progress: Callable[[DetectorTrainProgress], None] | None = None,
                   cancel: threading.Event | None = None, pretrained: Path | None = None,
                   situation: str = "cli") -> TrainedDetector:
    """Train (module docstring). ``situation``: the thread budget's situation
    (``engine.runtime.threads``; "gui" from the app). Raises DetectorTrainingError,
    Cancelled, or the weights reader's error for a bad ``pretrained`` file."""
    from engine.runtime.device import choose_device
    from engine.runtime.threads import apply_thread_budget

    apply_thread_budget(situation)  # on this (the training) thread: OpenMP sizes per thread
    device = choose_device(None)
    torch.manual_seed(settings.seed)
    data = _load(dataset, settings)
    classes = dataset.classes
    model, start = _new_model(settings, len(classes), pretrained)
    size = settings.input_size
    trainer = _Trainer(model, LR_FINETUNE if "COCO" in start else LR_SCRATCH, size, device)
    augmenter = Augmenter(size, settings.seed, enabled=settings.augment)
    order_rng = np.random.default_rng(settings.seed + 1)
    per_epoch = steps_per_epoch(len(data.train))
    budget_s = settings.minutes * 60 if settings.minutes is not None else None
    epochs = settings.epochs or (default_epochs(len(data.train)) if budget_s is None else MAX_EPOCHS)
    eval_every = max(1, round(epochs / 8)) if budget_s is None else None
    history: list[DetectorTrainProgress] = []
    began = time.monotonic()
    step = 0
    last_eval = began
    train_time = 0.0
    evaluation = None
    done = False
    for epoch in range(1, epochs + 1):
        order = order_rng.permutation(len(data.train))
        elapsed = time.monotonic() - began
        fraction_at_epoch = elapsed / budget_s if budget_s else (epoch - 1) / epochs
        use_mosaic = fraction_at_epoch < 1 - PLAIN_TAIL
        for start_index in range(0, len(order), BATCH):
            _check(cancel)
            t0 = time.monotonic()
            fraction = (t0 - began) / budget_s if budget_s else step / (epochs * per_epoch)
            batch = [augmenter.sample(data.train, int(i), use_mosaic) for i in order[start_index:start_index + BATCH]]
            parts = trainer.step(batch, min(fraction, 1.0))
            step += 1
            train_time += time.monotonic() - t0
            elapsed = time.monotonic() - began
            if budget_s:
                planned = max(step, int(budget_s / (elapsed / step)))
                planned_epochs = max(epoch, math.ceil(planned / per_epoch))
                eta = max(0.0, budget_s - elapsed)
            else:
                planned, planned_epochs = epochs * per_epoch, epochs
                eta = (planned - step) * train_time / step * (1 + EVAL_SHARE)
            last_of_epoch = start_index + BATCH >= len(order)
            done = (budget_s is not None and elapsed >= budget_s) or (budget_s is None and step >= planned)
            measured = None
            if done:  # the final evaluation goes with the last step's report
                _check(cancel)
                final = recalibrated(trainer.ema, data.train, size)
                evaluation = _evaluate(final, data, classes, size, cancel)
                measured = evaluation.metrics if evaluation is not None else None
                eta = 0.0
            elif last_of_epoch and data.held_out.images and (
                    (eval_every is not None and epoch % eval_every == 0)
                    or (budget_s is not None and time.monotonic() - last_eval > budget_s * EVAL_SHARE * 1.5)):
                measured = _evaluate(recalibrated(trainer.ema, data.train, size), data, classes, size, cancel).metrics
                last_eval = time.monotonic()
            report = DetectorTrainProgress(epoch, planned_epochs, step, planned, float(parts.total.detach()),
                                           parts.as_dict(), measured.map50 if measured else None,
                                           measured.map50_95 if measured else None, elapsed, eta)
            history.append(report)
            if progress is not None:
                progress(report)
            if done:
                break
        if done:
            break
    if not done:  # the epochs ran out before the clock (minutes mode, MAX_EPOCHS)
        final = recalibrated(trainer.ema, data.train, size)
        evaluation = _evaluate(final, data, classes, size, cancel)
    info = {"start": start, "arch": settings.arch, "input_size": size, "epochs": epoch, "steps": step,
            "seed": settings.seed, "augment": settings.augment, "train_pictures": len(data.train),
            "held_out_pictures": len(data.held_out.images), "train_seconds": round(time.monotonic() - began, 1),
            "skipped": data.skipped}
    if evaluation is not None:
        info["held_out_map50"] = evaluation.metrics.map50
        info["held_out_map50_95"] = evaluation.metrics.map50_95
    log.info("trained YOLOX-%s %s: %d steps, %.0f s", settings.arch, start, step, time.monotonic() - began)
    return TrainedDetector(final, classes, settings.arch, size, tuple(history), evaluation, info)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


__all__ = ["DetectorTrainProgress", "DetectorTrainSettings", "DetectorTrainingError", "TrainedDetector",
           "estimate_training_seconds", "installed_coco_weights", "load_trained_detector", "train_detector"]
