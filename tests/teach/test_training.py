"""Training: accuracy on synthetic classes, reproducibility, cancel, bad samples, fine-tuning."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from engine.features.teach.features import EmbeddingCache
from engine.features.teach.imaging import preview
from engine.features.teach.project import Project
from engine.features.teach.settings import AugmentSettings, TrainSettings
from engine.features.teach.training import TrainingCancelled, TrainingError, dataset_from_folder, dataset_from_project, run_to_end, train

NO_AUG = AugmentSettings(enabled=False)


def test_linear_head_on_untrained_features_reaches_95_percent(trained):
    assert trained.val_accuracy >= 0.95
    assert trained.model.info["val_samples"] == 18 and trained.model.info["train_samples"] == 72
    assert trained.confusion.sum() == 18 and np.trace(trained.confusion) / 18 == pytest.approx(trained.val_accuracy)
    assert trained.model.info["backbone_trained"] is False
    # only the head is trained: 3 x D weights + 3 biases
    dim = trained.model.classifier.head.mean.numel()
    assert trained.trainable_params == 3 * dim + 3 and trained.frozen_params > 100 * trained.trainable_params
    assert [h["epoch"] for h in trained.history] == list(range(1, len(trained.history) + 1))


def _head_weights(result):
    return {k: v.clone() for k, v in result.model.classifier.head.state_dict().items()}


def test_training_is_reproducible_with_a_seed(small_folder, backbone):
    dataset = dataset_from_folder(small_folder)
    settings = TrainSettings(seed=3, epochs=15, head="mlp", augment=AugmentSettings(copies=1))
    first = run_to_end(train(dataset, backbone, settings))
    torch.manual_seed(12345)  # whatever the caller's RNG did before does not matter
    second = run_to_end(train(dataset, backbone, settings))
    other = run_to_end(train(dataset, backbone, TrainSettings(seed=4, epochs=15, head="mlp", augment=AugmentSettings(copies=1))))
    a, b, c = _head_weights(first), _head_weights(second), _head_weights(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first.val_ids == second.val_ids and first.history == second.history
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_cancel_stops_within_one_epoch(small_folder, backbone):
    cancel = threading.Event()
    job = train(dataset_from_folder(small_folder), backbone, TrainSettings(epochs=200, patience=200, augment=NO_AUG),
                cancel=cancel)
    epochs = []
    with pytest.raises(TrainingCancelled):
        for progress in job:
            if progress.stage == "epoch":
                epochs.append(progress.epoch)
                if progress.epoch == 3:
                    cancel.set()
    assert epochs == [1, 2, 3]


def test_closing_the_job_stops_it(small_folder, backbone):
    job = train(dataset_from_folder(small_folder), backbone, TrainSettings(epochs=200, patience=200, augment=NO_AUG))
    for progress in job:
        if progress.stage == "epoch":
            break
    job.close()  # what the GUI's job runner does on cancel
    with pytest.raises(StopIteration):
        next(job)


def _project_from(folder, root):
    project = Project.create(root, classes=())
    project.import_folder(folder)
    return project


def test_a_corrupt_sample_is_left_out_with_a_message(small_folder, backbone, tmp_path):
    project = _project_from(small_folder, tmp_path / "p")
    victim = project.samples("checks")[0]
    victim.path.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = run_to_end(train(dataset_from_project(project), backbone, TrainSettings(epochs=5, augment=NO_AUG)))
    assert any(str(victim.path) in w for w in result.warnings), result.warnings
    assert victim.id not in result.train_ids + result.val_ids
    assert result.model.info["train_samples"] + result.model.info["val_samples"] == 23


def test_a_class_with_one_sample_is_left_out_and_said_so(small_folder, backbone, tmp_path):
    project = _project_from(small_folder, tmp_path / "p")
    project.add_class("lonely")
    project.add_sample("lonely", np.full((50, 60, 3), 128, np.uint8))
    project.add_class("empty")
    result = run_to_end(train(dataset_from_project(project), backbone, TrainSettings(epochs=3, augment=NO_AUG)))
    assert result.labels == ["blobs", "checks", "stripes"]
    assert any("'lonely' has only 1 sample" in w for w in result.warnings)
    assert any("'empty' has no samples" in w for w in result.warnings)


def test_training_refuses_with_the_reason_when_fewer_than_two_classes_are_usable(backbone, tmp_path):
    project = Project.create(tmp_path / "p", classes=("cats", "dogs"))
    for _ in range(3):
        project.add_sample("cats", np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    with pytest.raises(TrainingError, match=r"at least 2 classes.*'cats': 3, 'dogs': 0"):
        run_to_end(train(dataset_from_project(project), backbone))
    with pytest.raises(TrainingError, match="no samples"):
        run_to_end(train(dataset_from_project(Project.create(tmp_path / "q")), backbone))


def test_embeddings_are_cached_per_sample_and_backbone(small_folder, backbone, tmp_path):
    project = _project_from(small_folder, tmp_path / "p")
    cache = EmbeddingCache(project.features_dir, backbone.cache_key)
    settings = TrainSettings(epochs=2, augment=AugmentSettings(copies=1))
    progress = list_progress(train(dataset_from_project(project), backbone, settings, cache=cache))
    assert [p for p in progress if p.stage == "embedding"]
    assert len(cache) == 24 + 18  # every sample + one augmented copy per training sample
    reopened = EmbeddingCache(project.features_dir, backbone.cache_key)
    assert len(reopened) == len(cache)
    again = list_progress(train(dataset_from_project(project), backbone, settings, cache=reopened))
    assert not [p for p in again if p.stage == "embedding"]  # nothing to compute the second time


def list_progress(job):
    out = []
    while True:
        try:
            out.append(next(job))
        except StopIteration:
            return out


def test_finetuning_trains_only_the_last_blocks(small_folder, backbone):
    before = [b.state_dict() for b in backbone.net.blocks]
    before = [{k: v.clone() for k, v in s.items()} for s in before]
    result = run_to_end(train(dataset_from_folder(small_folder), backbone,
                              TrainSettings(finetune=1, epochs=2, patience=5, augment=AugmentSettings(jitter=0.2))))
    net = result.model.classifier.net
    last = len(net.blocks) - 1
    changed = [any(not torch.equal(v, before[i][k]) for k, v in block.state_dict().items() if v.is_floating_point())
               for i, block in enumerate(net.blocks)]
    assert changed[last] and not any(changed[:last])
    # the shared backbone (and so its cached embeddings) is untouched
    assert all(torch.equal(v, before[last][k]) for k, v in backbone.net.blocks[last].state_dict().items())
    assert result.trainable_params == sum(p.numel() for p in net.blocks[last].parameters()) + sum(
        p.numel() for p in result.model.classifier.head.parameters())


def test_augmentation_preview_is_seeded_and_varied():
    image = cv2.resize(np.arange(256, dtype=np.uint8).reshape(16, 16), (120, 90))
    image = cv2.merge([image, 255 - image, image // 2])
    a = preview(image, AugmentSettings(), count=6, seed=5, size=64)
    b = preview(image, AugmentSettings(), count=6, seed=5, size=64)
    assert all(x.shape == (64, 64, 3) and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len({x.tobytes() for x in a}) == 6
    flips = preview(image, AugmentSettings(crop_scale=(1.0, 1.0), jitter=0.0), count=12, seed=0, size=64)
    plain = cv2.resize(image, (64, 64), interpolation=cv2.INTER_LINEAR)
    kinds = {("same" if np.array_equal(f, plain) else "mirrored" if np.array_equal(f, plain[:, ::-1]) else "other") for f in flips}
    assert kinds <= {"same", "mirrored"} and len(kinds) == 2  # crop and jitter off: only the mirror varies
