"""Detectors through the real loaders: catalog + weights cache import, the YOLO detector's
settings (input size, letterbox, class filter), torchvision models, the live task."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from engine.core.boxes import box_iou
from engine.core.frame import Frame
from engine.features.detect.backends.darknet.detector import YoloDetector, cpu_bf16_supported
from engine.features.detect.backends.torchvision import build_model
from engine.features.detect.detector import DetectorError
from engine.features.detect.factory import load_detector
from engine.features.detect.options import DetectorOptions
from engine.features.detect.task import DetectionTask, DetectSettings
from engine.models.cache import WeightsCache, WeightsMissingError
from engine.models.catalog import catalog
from engine.runtime.worker import running_worker


@pytest.fixture()
def cache(tmp_path):
    return WeightsCache(tmp_path / "models")


def test_detect_catalog_has_the_required_entries():
    entries = {e.name: e for e in catalog().entries("detect")}
    for name in ("yolov4-tiny", "yolov3-tiny", "yolov7-tiny", "yolov4", "yolov3",
                 "ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn"):
        assert name in entries
        assert entries[name].files[0].url.startswith("https://")
    assert catalog().default("detect").name == "yolov4-tiny"
    assert "public domain" in entries["yolov4-tiny"].license.lower()


def test_missing_weights_say_how_to_install(cache):
    with pytest.raises(WeightsMissingError, match=r"models fetch yolov4-tiny.*models import yolov4-tiny FILE"):
        load_detector("yolov4-tiny", cache=cache)


def test_imported_yolo_weights_load_through_the_catalog(cache, darknet_weights, street_image):
    _, weights = darknet_weights("yolov4-tiny")
    entry = catalog().get("yolov4-tiny")
    cache.import_file(entry, weights)
    detector = load_detector("yolov4-tiny", cache=cache, device="cpu")
    assert isinstance(detector, YoloDetector) and detector.input_size == (416, 416)
    found = detector.detect(street_image)
    assert len(found) > 0
    assert found.boxes.dtype == np.float32 and found.boxes.shape == (len(found), 4)
    assert (found.boxes[:, 0] <= found.boxes[:, 2]).all() and (found.boxes[:, 2] <= 640).all()
    assert (found.scores > 0.25).all() and found.labels[0] in detector.class_names
    # A file of another model is refused at import time, naming both sizes.
    _, other = darknet_weights("yolov3-tiny")
    with pytest.raises(Exception, match="expected 24,251,276 bytes"):
        cache.import_file(entry, other, force=True)


def test_input_size_class_filter_and_thresholds(darknet_weights, street_image):
    cfg, weights = darknet_weights("yolov4-tiny")
    detector = YoloDetector.from_files(cfg, weights, device="cpu")
    everything = detector.detect(street_image)
    assert len(everything.counts()) > 1
    person = detector.class_names.index("person")
    detector.class_filter = {person}
    only = detector.detect(street_image)
    assert len(only) > 0 and set(only.class_ids.tolist()) == {person}
    detector.class_filter = None
    detector.conf_threshold = 0.6
    strict = detector.detect(street_image)
    assert len(strict) < len(everything) and (strict.scores > 0.6).all()
    detector.set_input_size(320, 256)
    small = detector.detect(street_image)
    assert [(g.cols, g.rows) for g in small.grids] == [(10, 8), (20, 16)]
    assert small.mapping.scale_x == pytest.approx(320 / 640) and small.mapping.scale_y == pytest.approx(256 / 480)
    with pytest.raises(DetectorError, match="multiples of 32"):
        detector.set_input_size(300, 300)
    with pytest.raises(DetectorError, match="unknown class name"):
        detector.class_ids_for(["person", "unicorn"])


def test_letterbox_maps_boxes_back_to_the_frame(darknet_weights, street_image):
    cfg, weights = darknet_weights("yolov4-tiny")
    plain = YoloDetector.from_files(cfg, weights, device="cpu", letterbox=False)
    boxed = YoloDetector.from_files(cfg, weights, device="cpu", letterbox=True)
    x, mapping = boxed._preprocessor()(street_image)
    # 640x480 into 416x416: scale 0.65, 416x312 picture, 52 rows of grey above and below.
    assert mapping.scale_x == mapping.scale_y == pytest.approx(0.65) and mapping.pad_y == 52
    assert torch.allclose(x[0, :, :52], torch.tensor(127 / 255.0))
    found = boxed.detect(street_image)
    assert len(found) > 0 and (found.boxes[:, 1::2] <= 480).all()
    assert len(plain.detect(street_image)) > 0


def test_gpu_options_run_on_cpu_code_paths(darknet_weights, street_image):
    """half/channels_last are requested as on a GPU; on the CPU half is refused, the
    channels_last path runs and gives the same detections."""
    cfg, weights = darknet_weights("yolov4-tiny")
    base = YoloDetector.from_files(cfg, weights, device="cpu", channels_last=False).detect(street_image)
    fast = YoloDetector.from_files(cfg, weights, device="cpu", half=True, channels_last=True)
    assert fast.dtype == torch.float32
    found = fast.detect(street_image)
    np.testing.assert_allclose(found.boxes, base.boxes, atol=1e-2)


@pytest.mark.skipif(not cpu_bf16_supported(), reason="this CPU has no native bfloat16")
def test_bf16_fast_mode_is_close_to_float32(darknet_weights, street_image):
    cfg, weights = darknet_weights("yolov4-tiny")
    exact = YoloDetector.from_files(cfg, weights, device="cpu").detect(street_image)
    fast_detector = YoloDetector.from_files(cfg, weights, device="cpu", bf16=True)
    assert fast_detector.dtype == torch.bfloat16
    fast = fast_detector.detect(street_image)
    assert abs(len(fast) - len(exact)) <= 0.2 * len(exact)
    confident = exact.scores > 0.4
    iou = box_iou(exact.boxes[confident], fast.boxes)
    same = exact.class_ids[confident][:, None] == fast.class_ids[None, :]
    matched = (np.where(same, iou, 0).max(axis=1) > 0.8).mean()
    assert matched > 0.8, f"only {matched:.0%} of the confident float32 detections survive in bfloat16"


@pytest.mark.parametrize("arch", ["ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn"])
def test_torchvision_detectors_load_saved_state_dicts(tmp_path, cache, arch, street_image):
    torch.manual_seed(0)
    state = build_model(arch).state_dict()
    entry = catalog().get(arch)
    src = tmp_path / entry.files[0].filename
    torch.save(state, src)
    cache.import_file(entry, src)
    detector = load_detector(arch, cache=cache, device="cpu", options=DetectorOptions(conf_threshold=0.0))
    found = detector.detect(street_image)
    assert found.boxes.shape[1] == 4 and found.frame_size == (640, 480)
    assert detector.class_names[1] == "person" and len(detector.class_names) == 91
    if len(found):
        assert (found.boxes[:, 2] <= 640).all() and (found.boxes[:, 3] <= 480).all()
    # A state_dict of the other architecture is refused with a clear message.
    wrong = tmp_path / "wrong.pth"
    torch.save({"not": torch.zeros(1)}, wrong)
    from engine.features.detect.backends.torchvision import TorchvisionDetector
    with pytest.raises(DetectorError, match="does not fit this architecture"):
        TorchvisionDetector.from_file(arch, wrong)


def test_detection_task_runs_in_the_worker(darknet_weights, street_image):
    cfg, weights = darknet_weights("yolov4-tiny")
    results, done = [], threading.Event()

    def on_result(result):
        results.append(result)
        if len(results) >= 2:
            done.set()

    task = DetectionTask(lambda device: YoloDetector.from_files(cfg, weights, device=device),
                         settings=DetectSettings(conf_threshold=0.3, input_size=(320, 320)))
    with running_worker(on_result, task, device="cpu") as worker:
        worker.update(DetectSettings(conf_threshold=0.5, input_size=(320, 320)))  # a live change
        for i in range(40):
            worker.submit(Frame(street_image, i, 0.0, "test"))
            if done.wait(0.25):
                break
    assert done.is_set()
    last = results[-1]
    assert last.result.grids[0].cols == 10  # the task's input size was applied
    assert (last.result.scores > 0.5).all()
    assert last.timings.inference_ms > 0
