"""Training the classifier: a cancellable engine job that yields progress.

``train(dataset, backbone, settings)`` is a generator: it yields ``TrainProgress`` (the
embedding stage, then one report per epoch) and returns a ``TrainResult``. The CLI
drives it in a loop; the Teach tab runs it on a job runner (cancel = stop iterating,
or set ``cancel``; either way it stops within the epoch in progress).

Two modes, the course's "little data: freeze; more data: unfreeze more":
  * ``finetune == 0`` (default): the backbone is frozen, every sample is embedded once
    (cached, plus ``augment.copies`` augmented copies of each training sample) and only
    the head is trained, on those vectors: seconds, even on a laptop CPU.
  * ``finetune == k``: the last k blocks of the backbone are trained with the head, on
    images augmented afresh every epoch.

Reproducible: the split, the augmentation, the initialisation and the batch order
all follow ``settings.seed`` (the global torch RNG is re-seeded from it).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.core.errors import Cancelled, SourceError, UserError
from engine.features.teach.backbones import Backbone
from engine.features.teach.features import EmbeddingCache, augment_tag, compute
from engine.features.teach.imaging import augment, to_batch
from engine.features.teach.model import Classifier, Head, TrainedModel, preprocessing_info
from engine.features.teach.settings import TrainSettings
from engine.io.images import list_images, read_image

log = logging.getLogger(__name__)


HEAD_BATCH = 128  # samples per optimiser step when training the head on cached embeddings


class TrainingError(UserError, ValueError):
    """Training cannot start or go on; the message gives the reason and what to do."""


# The user cancelled; nothing was saved.
TrainingCancelled = Cancelled


@dataclass(frozen=True)
class DataItem:
    """One labelled image. load() returns it as uint8 BGR; path is shown for hard samples."""

    id: str
    label: str
    load: Callable[[], np.ndarray] = field(compare=False, repr=False)
    path: Path | None = None


@dataclass(frozen=True)
class Dataset:
    """Labelled images: ``classes`` in label order, ``items``, and files already skipped (path, reason)."""

    classes: tuple[str, ...]
    items: tuple[DataItem, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def dataset_from_project(project) -> Dataset:
    """The samples of a ``Project`` (classes in project order)."""
    names = {c.id: c.name for c in project.classes}
    items = tuple(DataItem(s.id, names[s.class_id], (lambda p=s.path: read_image(p)), s.path) for s in project.samples())
    return Dataset(tuple(names.values()), items)


def dataset_from_folder(folder: str | Path) -> Dataset:
    """An ImageFolder (``folder/<class>/<image>``); files that are not images are listed in ``skipped``."""
    root = Path(folder)
    if not root.is_dir():
        raise TrainingError(f"{root} is not a folder: give a folder with one sub-folder of images per class")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise TrainingError(f"{root} has no class sub-folders: put each class's images in a folder named after the class")
    for d in class_dirs:
        try:
            d.name.encode("utf-8")
        except UnicodeEncodeError:
            # The folder name becomes the class label, written into labels.txt and
            # model.json: refuse it now rather than after training.
            shown = os.fsencode(d).decode("utf-8", "backslashreplace")
            raise TrainingError(f"{shown}: the class folder's name is not valid UTF-8 text, so it cannot be a "
                                "class label; rename the folder (e.g. with only letters and digits)") from None
    items, skipped = [], []
    images_by_dir = {d: set(list_images(d)) for d in class_dirs}
    for d in class_dirs:
        for f in sorted(d.iterdir()):
            if not f.is_file() or f.name.startswith("."):
                continue
            if f in images_by_dir[d]:
                items.append(DataItem(f"{d.name}/{f.name}", d.name, (lambda p=f: read_image(p)), f))
            else:
                skipped.append((str(f), f"{f}: not an image file"))
    return Dataset(tuple(d.name for d in class_dirs), tuple(items), tuple(skipped))


@dataclass(frozen=True)
class TrainProgress:
    """A progress report. stage: "embedding" (done/total samples) or "epoch" (with the curves' values)."""

    stage: str
    done: int
    total: int
    epoch: int = 0
    train_loss: float = math.nan
    train_accuracy: float = math.nan
    val_loss: float = math.nan
    val_accuracy: float = math.nan
    message: str = ""


@dataclass(frozen=True)
class Misclassified:
    """A validation sample the classifier got wrong; ``true_probability`` ranks the hardest first."""

    id: str
    path: Path | None
    label: str
    predicted: str
    probability: float
    true_probability: float


@dataclass
class TrainResult:
    """What training produced.

    confusion: int (C, C), rows = true class, columns = predicted, label order.
    history: one dict per epoch (epoch, train_loss, train_accuracy, val_loss, val_accuracy).
    warnings: classes or samples left out, with the reason.
    """

    model: TrainedModel
    history: list[dict]
    confusion: np.ndarray
    misclassified: list[Misclassified]
    val_accuracy: float
    best_epoch: int
    warnings: list[str]
    trainable_params: int
    frozen_params: int
    val_ids: list[str]
    train_ids: list[str]

    @property
    def labels(self) -> list[str]:
        return self.model.labels


@contextlib.contextmanager
def _intra_op_threads(n: int):
    """Run the block with at most ``n`` torch intra-op threads (restored afterwards).

    The head's operators on cached vectors are tiny: waking a second OpenMP thread for
    each costs more than it saves (300 cached samples, 100 epochs: 4.8 s with 2 threads,
    0.36 s with 1 on a 2-core CPU).
    """
    before = torch.get_num_threads()
    if n >= before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _seed_all(seed: int, salt: int = 0) -> None:
    torch.manual_seed((seed * 1_000_003 + salt) % (2**63))


def _split(items: list[DataItem], labels: list[str], fraction: float, seed: int) -> tuple[list[DataItem], list[DataItem]]:
    """Stratified split: each class keeps at least one training and one validation sample."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in labels:
        group = [it for it in items if it.label == label]
        order = rng.permutation(len(group))
        n_val = min(len(group) - 1, max(1, int(round(len(group) * fraction))))
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return train, val


def _usable_classes(items: list[DataItem], classes: tuple[str, ...], warnings: list[str]) -> list[str]:
    counts = {c: sum(1 for it in items if it.label == c) for c in classes}
    usable = []
    for name, n in counts.items():
        if n >= 2:
            usable.append(name)
        else:
            what = "no samples" if n == 0 else "only 1 sample"
            warnings.append(f"class '{name}' has {what} and is left out: record at least 2 (better 20+)")
    if len(usable) < 2:
        detail = ", ".join(f"'{c}': {n}" for c, n in counts.items()) or "no classes"
        raise TrainingError(f"training needs at least 2 classes with 2 or more samples each (samples per class: {detail}); "
                            "record or add more samples")
    return usable


def _trainable_net(backbone: Backbone, k: int) -> nn.Module:
    net = copy.deepcopy(backbone.net) if k > 0 else backbone.net
    blocks = list(net.blocks)
    if k > len(blocks):
        raise TrainingError(f"{backbone.spec.title} has {len(blocks)} blocks: fine-tune at most {len(blocks)}")
    for i, block in enumerate(blocks):
        for p in block.parameters():
            p.requires_grad_(k > 0 and i >= len(blocks) - k)
    return net.eval()  # BatchNorm keeps its ImageNet statistics: small batches would ruin them


def _run_epoch(step: Callable[[list[int]], tuple[float, int]], n: int, batch_size: int, generator: torch.Generator,
               cancel: threading.Event | None) -> tuple[float, float]:
    order = torch.randperm(n, generator=generator).tolist()
    total_loss, correct = 0.0, 0
    for start in range(0, n, batch_size):
        if cancel is not None and cancel.is_set():
            raise TrainingCancelled()
        idx = order[start:start + batch_size]
        loss, right = step(idx)
        total_loss += loss * len(idx)
        correct += right
    return total_loss / max(n, 1), correct / max(n, 1)


def train(dataset: Dataset, backbone: Backbone, settings: TrainSettings = TrainSettings(), *,
          cache: EmbeddingCache | None = None, device: torch.device | str = "cpu",
          cancel: threading.Event | None = None) -> Generator[TrainProgress, None, TrainResult]:
    """Train a classifier on ``dataset``; see the module docstring. Raises TrainingError with the reason."""
    device = torch.device(device)
    warnings = [reason for _, reason in dataset.skipped]
    cache = cache if cache is not None else EmbeddingCache(None, backbone.cache_key)
    backbone.net.to(device)
    items = list(dataset.items)
    if not items:
        raise TrainingError("there are no samples: record or add at least 2 samples in each of 2 classes")

    # 1. every sample once through the frozen backbone (cached); unreadable ones are left out
    job = compute(cache, backbone, [(it.id, it.load, None) for it in items], device=device, cancel=cancel)
    errors = yield from _forward_progress(job, "embedding", "embedding samples")
    _check_cancel(cancel)
    for sid, message in errors.items():
        warnings.append(f"sample left out: {message}")
    items = [it for it in items if it.id not in errors]
    labels = _usable_classes(items, dataset.classes, warnings)
    items = [it for it in items if it.label in labels]
    train_items, val_items = _split(items, labels, settings.val_fraction, settings.seed)
    y_of = {name: i for i, name in enumerate(labels)}
    aug = settings.augment
    _seed_all(settings.seed)

    # 2. the head's input statistics and the training tensors
    def vectors(keys: list[str]) -> torch.Tensor:
        return torch.from_numpy(np.stack([cache.get(k) for k in keys])).to(device)

    x_train_plain = vectors([it.id for it in train_items])
    y_train_plain = torch.tensor([y_of[it.label] for it in train_items], device=device)
    x_val = vectors([it.id for it in val_items])
    y_val = torch.tensor([y_of[it.label] for it in val_items], device=device)
    head = Head(x_train_plain.shape[1], len(labels), settings.head, settings.hidden).to(device)
    head.mean.copy_(x_train_plain.mean(0))
    head.std.copy_(x_train_plain.std(0, unbiased=False).clamp_min(1e-6))

    k = settings.finetune
    net = _trainable_net(backbone, k)
    if k == 0 and aug.enabled and aug.copies > 0:
        tags = [augment_tag(aug, settings.seed, c) for c in range(aug.copies)]
        job = compute(cache, backbone, [(it.id, it.load, t) for it in train_items for t in tags],
                      augment_settings=aug, device=device, cancel=cancel)
        yield from _forward_progress(job, "embedding", "embedding augmented copies")
        _check_cancel(cancel)
        x_train = torch.cat([x_train_plain] + [vectors([f"{it.id}#{t}" for it in train_items]) for t in tags])
        y_train = y_train_plain.repeat(len(tags) + 1)
    else:
        x_train, y_train = x_train_plain, y_train_plain

    images: dict[str, np.ndarray] = {}
    if k > 0:
        for it in train_items + val_items:
            try:
                images[it.id] = it.load()
            except SourceError as exc:  # the file changed since it was embedded
                raise TrainingError(f"a sample can no longer be read: {exc}") from exc
        x_val_images = to_batch([images[it.id] for it in val_items]).to(device)

    trainable = [p for p in net.parameters() if p.requires_grad] + list(head.parameters())
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate if k == 0 else settings.learning_rate / 3,
                                  weight_decay=settings.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(settings.seed)
    classifier = Classifier(net, head).to(device)
    epoch_rng = np.random.default_rng(settings.seed)

    def head_step(idx: list[int]) -> tuple[float, int]:
        logits = head(x_train[idx])
        loss = loss_fn(logits, y_train[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return float(loss.detach()), int((logits.argmax(1) == y_train[idx]).sum())

    def finetune_step(idx: list[int]) -> tuple[float, int]:
        batch_images = [augment(images[train_items[i].id], aug, epoch_rng) if aug.enabled else images[train_items[i].id]
                        for i in idx]
        logits = classifier.logits(to_batch(batch_images).to(device))
        target = y_train_plain[idx]
        loss = loss_fn(logits, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return float(loss.detach()), int((logits.argmax(1) == target).sum())

    @torch.no_grad()
    def validate() -> tuple[float, float, torch.Tensor]:
        head.eval()
        logits = head(x_val) if k == 0 else torch.cat([classifier.logits(x_val_images[i:i + 32]) for i in range(0, len(val_items), 32)])
        head.train()
        return float(loss_fn(logits, y_val)), float((logits.argmax(1) == y_val).float().mean()), logits

    history: list[dict] = []
    best = (math.inf, -1.0, 0, None)  # val loss, val accuracy, epoch, state
    stale = 0
    head.train()
    for epoch in range(1, settings.epochs + 1):
        _seed_all(settings.seed, epoch)
        n = len(x_train) if k == 0 else len(train_items)
        # Cached vectors are tiny: big batches mean few optimiser steps per epoch, which is what
        # costs time on a busy CPU; images (fine-tuning) use the configured batch size.
        batch = max(settings.batch_size, HEAD_BATCH) if k == 0 else settings.batch_size
        with _intra_op_threads(1 if k == 0 else torch.get_num_threads()):
            train_loss, train_acc = _run_epoch(head_step if k == 0 else finetune_step, n, batch, generator, cancel)
            val_loss, val_acc, _ = validate()
        history.append({"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc,
                        "val_loss": val_loss, "val_accuracy": val_acc})
        improved = val_loss < best[0] - 1e-4 or (val_acc > best[1] and val_loss <= best[0] * 1.05)
        if improved:
            state = {"head": copy.deepcopy(head.state_dict()),
                     "net": copy.deepcopy(net.state_dict()) if k > 0 else None}
            best = (min(val_loss, best[0]), val_acc, epoch, state)
            stale = 0
        else:
            stale += 1
        yield TrainProgress("epoch", epoch, settings.epochs, epoch, train_loss, train_acc, val_loss, val_acc,
                            f"epoch {epoch}: validation accuracy {val_acc:.1%}")
        _check_cancel(cancel)
        if stale >= settings.patience:
            log.info("early stopping after epoch %d (best %d)", epoch, best[2])
            break

    state = best[3]
    head.load_state_dict(state["head"])
    if state["net"] is not None:
        net.load_state_dict(state["net"])
    for p in classifier.parameters():
        p.requires_grad_(False)
    head.eval()
    val_loss, val_acc, logits = validate()
    probs = torch.softmax(logits, 1).cpu().numpy()
    predicted = probs.argmax(1)
    truth = y_val.cpu().numpy()
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    wrong = [Misclassified(it.id, it.path, it.label, labels[int(p)], float(pr[p]), float(pr[t]))
             for it, p, t, pr in zip(val_items, predicted, truth, probs) if p != t]
    wrong.sort(key=lambda m: m.true_probability)
    trainable_count = sum(p.numel() for p in head.parameters()) + sum(
        p.numel() for i, b in enumerate(net.blocks) if k > 0 and i >= len(net.blocks) - k for p in b.parameters())
    total = sum(p.numel() for p in classifier.parameters())
    info = {
        "backbone": backbone.name,
        "backbone_title": backbone.spec.title,
        "backbone_trained": backbone.trained,
        "backbone_blocks": len(backbone.net.blocks),
        "weights": backbone.weights_label,
        "head": {"kind": settings.head, "hidden": settings.hidden},
        "finetune": k,
        "val_accuracy": val_acc,
        "train_samples": len(train_items),
        "val_samples": len(val_items),
        "seed": settings.seed,
        "preprocessing": preprocessing_info(),
    }
    classifier = classifier.cpu().eval()
    backbone.net.cpu()
    model = TrainedModel(classifier, list(labels), info)
    return TrainResult(model, history, confusion, wrong, val_acc, best[2], warnings, trainable_count,
                       total - trainable_count, [it.id for it in val_items], [it.id for it in train_items])


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled()


def _forward_progress(job, stage: str, message: str):
    """Re-yield an embedding job's (done, total) as TrainProgress; returns the job's value."""
    while True:
        try:
            done, total = next(job)
        except StopIteration as stop:
            return stop.value if stop.value is not None else {}
        yield TrainProgress(stage, done, total, message=f"{message}: {done}/{total}")


def run_to_end(job: Generator[TrainProgress, None, TrainResult], on_progress: Callable[[TrainProgress], None] | None = None) -> TrainResult:
    """Drive a training job to its result (CLI, tests, benchmarks)."""
    while True:
        try:
            progress = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(progress)
