"""Tracking behind every kind of detector of the tab: a torchvision model through the same
live task, and the catalog's class lists (stated once, in the catalog)."""

from __future__ import annotations

import time

import numpy as np
import torch

from engine.core.frame import Frame
from engine.features.detect.backends.torchvision import build_model
from engine.features.detect.factory import load_detector
from engine.features.detect.task import DetectionTask, DetectSettings, TrackedDetections
from engine.models.cache import WeightsCache
from engine.models.catalog import catalog


def test_a_torchvision_detector_runs_with_tracking_in_the_live_task(tmp_path, street_image):
    arch = "ssdlite320_mobilenet_v3_large"
    torch.manual_seed(0)
    entry = catalog().get(arch)
    src = tmp_path / entry.files[0].filename
    torch.save(build_model(arch).state_dict(), src)
    cache = WeightsCache(tmp_path / "models")
    cache.import_file(entry, src)
    task = DetectionTask(lambda device: load_detector(arch, cache=cache, device=device),
                         settings=DetectSettings(conf_threshold=0.01, tracking=True))
    task.load(torch.device("cpu"))
    ids = []
    with torch.inference_mode():
        for i in range(3):  # the same picture three times: whatever is tracked keeps its id
            frame = Frame(street_image, i, time.monotonic(), "test")
            out = task.postprocess(task.infer(task.preprocess(frame)), frame)
            assert isinstance(out, TrackedDetections)
            assert (out.detections.scores >= 0.01).all()
            ids.append(out.tracked.tracks.ids.tolist())
    assert task.analyzer is not None and task.analyzer.class_names[1] == "person"
    assert ids[1] == ids[2]
    task.configure(DetectSettings(conf_threshold=0.01, tracking=False))
    assert task.analyzer is None


def test_class_lists_are_stated_once_in_the_catalog():
    from torchvision.models.detection import SSDLite320_MobileNet_V3_Large_Weights

    entries = {e.name: e for e in catalog().entries("detect")}
    coco91 = tuple(SSDLite320_MobileNet_V3_Large_Weights.COCO_V1.meta["categories"])
    assert entries["ssdlite320_mobilenet_v3_large"].meta["categories"] == coco91
    assert len(entries["yolov4-tiny"].meta["categories"]) == 80
    for entry in entries.values():
        assert entry.builder is not None and entry.transforms is not None and "kind" not in entry.extra
    yolo = [e for e in entries.values() if e.capabilities.adjustable_input and "cfg" in e.meta]
    assert {e.name for e in yolo} == {"yolov4-tiny", "yolov3-tiny", "yolov7-tiny", "yolov4", "yolov3"}
    assert np.all([e.transforms.size == (416, 416) for e in yolo])
