"""Training a detector: the label assignment, the loss going down, the augmentations
carrying boxes with the pictures, a short training with progress, held-out evaluation,
cancel, and the saved folder giving what Detect gives."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from engine.core.errors import Cancelled
from engine.features.teach.detection import augment
from engine.features.teach.detection.labels import dataset_from_items
from engine.features.teach.detection.loss import assign, detection_loss
from engine.features.teach.detection.scenes import make_scene, scenes_dataset
from engine.features.teach.detection.training import (
    DetectorTrainingError,
    DetectorTrainSettings,
    estimate_training_seconds,
    load_trained_detector,
    train_detector,
)
from engine.models.yolox.grid import grid_points
from engine.models.yolox.model import build_yolox
from engine.models.yolox.pretrained import init_class_layers

SMALL = DetectorTrainSettings(input_size=128, epochs=2, untrained=True, seed=3)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return scenes_dataset(tmp_path_factory.mktemp("scenes"), count=8, seed=2)


@pytest.fixture(scope="module")
def trained(scenes):
    reports = []
    detector = train_detector(scenes, SMALL, progress=reports.append, situation="test")
    return detector, reports


def test_assignment_picks_points_inside_each_box():
    cells, strides = grid_points((128, 128))
    centres = (cells + 0.5) * strides[:, None]
    boxes = torch.tensor([[10.0, 10.0, 50.0, 60.0], [70.0, 64.0, 120.0, 120.0]])
    preds = torch.cat([centres - 16, centres + 16], 1)  # every point guesses a 32 px box around itself
    found = assign(centres, strides, preds, torch.zeros(len(cells), 2), torch.zeros(len(cells)), boxes,
                   torch.tensor([0, 1]))
    assert set(found.boxes.tolist()) == {0, 1}
    for point, box in zip(found.points.tolist(), found.boxes.tolist()):
        x, y = centres[point].tolist()
        x1, y1, x2, y2 = boxes[box].tolist()
        assert x1 < x < x2 and y1 < y < y2
    assert len(set(found.points.tolist())) == len(found.points)  # a point answers for one box
    none = assign(centres, strides, preds, torch.zeros(len(cells), 2), torch.zeros(len(cells)),
                  torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert none.points.numel() == 0


def test_loss_goes_down_on_a_fixed_batch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batch = [augment.letterbox(*make_scene(rng), 128)[:3] for _ in range(4)]
    x = torch.from_numpy(np.stack([b[0] for b in batch])).permute(0, 3, 1, 2).float()
    truths = [(torch.from_numpy(b[1]), torch.from_numpy(b[2])) for b in batch]
    model = build_yolox("nano", 3).train()
    init_class_layers(model)
    cells, strides = grid_points((128, 128))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        parts = detection_loss(model(x, logits=True), cells, strides, truths)
        optimiser.zero_grad()
        parts.total.backward()
        optimiser.step()
        losses.append(float(parts.total.detach()))
        assert parts.positives > 0
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:3]), losses


def _coloured_box_share(image, box, colour):
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    inner = image[y1 + 2:y2 - 2, x1 + 2:x2 - 2].reshape(-1, 3).astype(int)
    return float(np.mean(np.abs(inner - colour).sum(1) < 60))


def test_augmentations_carry_the_boxes():
    """A filled red square stays under its box through flips, placing, mosaic and the rest."""
    red = (0, 0, 255)
    image = np.full((240, 320, 3), 200, np.uint8)
    cv2.rectangle(image, (40, 30), (119, 109), red, -1)
    sample = (image, np.array([[40, 30, 120, 110]], np.float32), np.array([1]))
    flipped, flipped_boxes = augment.hflip(image, sample[1])
    assert _coloured_box_share(flipped, flipped_boxes[0], red) > 0.95
    rng = np.random.default_rng(0)
    seen = 0
    for _ in range(20):
        for out, boxes, ids in (augment.random_place(sample, 160, rng), augment.mosaic([sample] * 4, 160, rng),
                                augment.letterbox(*sample, 160)[:3]):
            assert out.shape == (160, 160, 3) and out.dtype == np.uint8 and len(boxes) == len(ids)
            assert (boxes >= 0).all() and (boxes <= 160).all()
            for box in boxes:
                if min(box[2] - box[0], box[3] - box[1]) > 8:
                    assert _coloured_box_share(out, box, red) > 0.85
                    seen += 1
    assert seen > 30
    jittered = augment.hsv_jitter(image, rng)
    assert jittered.shape == image.shape and not np.array_equal(jittered, image)


def test_short_training_reports_progress_and_evaluates(trained, scenes):
    detector, reports = trained
    assert detector.classes == scenes.classes and detector.arch == "nano" and detector.input_size == 128
    steps = reports[-1].steps
    assert [r.step for r in reports] == list(range(1, steps + 1)) and reports[-1].epoch == reports[-1].epochs == 2
    assert all(np.isfinite(r.loss) and set(r.losses) == {"box", "objectness", "classes"} for r in reports)
    assert reports[-1].map50 is not None and reports[-1].eta_s == 0.0
    assert detector.evaluation is not None and len(detector.evaluation.images) == 2  # 20 % of 8 held out
    assert 0.0 <= detector.evaluation.metrics.map50_95 <= detector.evaluation.metrics.map50 <= 1.0
    assert detector.info["start"].startswith("from scratch") and detector.history == tuple(reports)


def test_saved_folder_loads_the_same_detector(trained, scenes, tmp_path):
    detector, _ = trained
    folder = detector.save(tmp_path / "shapes")
    again = load_trained_detector(folder)
    assert again.classes == detector.classes and again.input_size == 128 and again.info["start"] == detector.info["start"]
    image = cv2.imread(str(scenes.images[0].image_path))
    ours = again.predict(image, conf=1e-6)  # two steps from scratch: every score is still tiny
    assert len(ours[0]) > 0 and all(np.array_equal(a, b) for a, b in zip(ours, detector.predict(image, conf=1e-6)))


def test_saved_folder_predicts_as_detect_does(scenes, tmp_path):
    """Detect's YOLOX path (its own preprocessing, decoding and NMS) on the saved folder
    gives our boxes; calibrated seeded weights give scores spread like a trained model's."""
    from engine.features.detect.backends.yolox.random_weights import random_model
    from engine.features.detect.model_dir import open_model_dir
    from engine.features.detect.options import DetectorOptions
    from engine.features.teach.detection.trained import TrainedDetector

    folder = TrainedDetector(random_model("nano", 3, seed=1), scenes.classes, "nano", 128).save(tmp_path / "seeded")
    image = cv2.resize(cv2.imread(str(scenes.images[0].image_path)), (128, 96))  # no resizing in either path
    ours = load_trained_detector(folder).predict(image, conf=0.05)
    theirs = open_model_dir(folder, options=DetectorOptions(conf_threshold=0.05, iou_threshold=0.65)).detect(image)
    assert 0 < len(theirs) == len(ours[0]) < 100
    assert np.allclose(theirs.boxes, ours[0], atol=1e-2) and np.allclose(theirs.scores, ours[1], atol=1e-4)
    assert np.array_equal(theirs.class_ids, ours[2])


def test_cancel_stops_training(scenes):
    cancel = threading.Event()

    def stop_after_first(report):
        cancel.set()

    with pytest.raises(Cancelled):
        train_detector(scenes, SMALL, progress=stop_after_first, cancel=cancel, situation="test")


def test_estimate_and_bad_input(scenes):
    seconds = estimate_training_seconds(scenes, SMALL)
    assert 0 < seconds < 3600
    assert estimate_training_seconds(scenes, DetectorTrainSettings(input_size=128, minutes=2)) >= 120
    with pytest.raises(DetectorTrainingError, match="multiple of 32"):
        DetectorTrainSettings(input_size=100)
    with pytest.raises(DetectorTrainingError, match="not both"):
        DetectorTrainSettings(epochs=3, minutes=1)
    empty = dataset_from_items(scenes.classes, [item.__class__(item.image_path, item.width, item.height,
                                                               np.zeros((0, 4)), np.zeros(0)) for item in scenes.images])
    with pytest.raises(DetectorTrainingError, match="no picture has a box"):
        train_detector(empty, SMALL, situation="test")



def test_minutes_bound_the_training(scenes):
    reports = []
    detector = train_detector(scenes, DetectorTrainSettings(input_size=128, minutes=0.03, untrained=True),
                              progress=reports.append, situation="test")
    last = reports[-1]
    assert last.step == last.steps == detector.info["steps"] >= 1 and last.eta_s == 0.0
    assert last.elapsed_s >= 0.03 * 60 and last.map50 is not None  # stopped by the clock, then evaluated
    assert all(r.steps >= r.step for r in reports)
