"""Grad-CAM of one YOLO detection's score through our Darknet model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.features.detect.backends.darknet.cfg import parse_cfg
from engine.features.detect.backends.darknet.detector import YoloDetector
from engine.features.detect.backends.darknet.random_weights import calibrated_random_model, synthetic_image
from engine.features.inspect.detection_cam import default_cam_layer, detection_grad_cam

CFG = Path(__file__).resolve().parents[2] / "resources" / "darknet" / "yolov3-tiny.cfg"


@pytest.fixture(scope="module")
def detector():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = calibrated_random_model(parse_cfg(CFG), seed=1)
    names = tuple(f"c{i}" for i in range(model.num_classes))
    return YoloDetector(model, names, input_size=(224, 224), conf_threshold=0.2, device="cpu")


def test_the_heat_of_a_detection_sits_on_its_grid_cell(detector):
    image = synthetic_image(240, 320, seed=3)
    detections = detector.detect(image)
    assert len(detections.scores) >= 2
    checked = 0
    for i in range(min(6, len(detections.scores))):
        cam = detection_grad_cam(detector, image, detections, i, method="hirescam")
        head, gx, gy, _ = (int(v) for v in detections.origins[i])
        assert cam.heat.shape == (240, 320) and cam.layer == default_cam_layer(detector.model, head)
        assert cam.score == pytest.approx(float(detections.scores[i]), abs=2e-3)
        if cam.heat.max() == 0:
            continue  # Grad-CAM's ReLU can leave nothing positive; nothing to locate then
        # The head's last convolution is 1 x 1: the score sees only its own cell of the
        # layer before, so gradient x activation (bilinear from that grid) lives on that cell.
        grid = detections.grids[head]
        cell_w, cell_h = 320 / grid.cols, 240 / grid.rows
        py, px = np.unravel_index(int(cam.heat.argmax()), cam.heat.shape)
        assert gx * cell_w - 1 <= px <= (gx + 1) * cell_w + 1 and gy * cell_h - 1 <= py <= (gy + 1) * cell_h + 1
        far = np.ones_like(cam.heat, bool)
        far[max(0, int((gy - 1) * cell_h)):int((gy + 2) * cell_h), max(0, int((gx - 1) * cell_w)):int((gx + 2) * cell_w)] = False
        assert cam.heat[far].max() < 1e-6
        checked += 1
    assert checked >= 1
    # Grad-CAM proper weighs channels by their mean gradient: the map covers every place
    # with those features, and two detections of different cells or classes differ.
    maps = [detection_grad_cam(detector, image, detections, i) for i in range(2)]
    assert all(m.heat.shape == (240, 320) and 0 <= m.heat.min() and m.heat.max() <= 1 for m in maps)
    assert not np.allclose(maps[0].heat, maps[1].heat)
    # A deeper field: an earlier layer spreads the heat beyond the cell.
    wide = detection_grad_cam(detector, image, detections, 0, layer="layers.4")
    assert wide.layer == "layers.4" and wide.heat.shape == (240, 320)
    with pytest.raises(ValueError, match="detection 99"):
        detection_grad_cam(detector, image, detections, 99)
