"""The Detect tab's controller, without Qt: settings snapshots, drawing lines and zones by
clicks, per-source persistence (a restart keeps them), bad saved data, counts and events."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from engine.core.frame import Frame
from engine.core.store import MemoryStore
from engine.features.detect.controller import DetectController
from engine.features.detect.counting import Regions
from engine.features.detect.scene_analysis import SceneAnalyzer
from engine.features.detect.synthetic_scenes import MovingObject, render_detections
from engine.features.detect.task import DetectSettings, TrackedDetections
from engine.features.detect.types import Detections
from engine.io.stream_url import storable_url
from engine.models.catalog import catalog
from engine.runtime.worker import TaskResult, Timings
from gui.common.settings import QSettingsStore
from gui.shell.source_stream import recent_streams, remember_stream
from gui.shell.sources import storable_spec

NAMES = tuple(catalog().get("yolov4-tiny").meta["categories"])


def make(store=None, changes=None):
    """A controller and the list of what its events announced ("settings", "model", "regions", "status:...")."""
    changes = changes if changes is not None else []
    controller = DetectController(catalog().entries("detect"), store or MemoryStore())
    controller.settings_changed.connect(lambda _none: changes.append("settings"))
    controller.task_changed.connect(lambda _none: changes.append("model"))
    controller.regions_changed.connect(lambda _none: changes.append("regions"))
    controller.status.connect(lambda text: changes.append(f"status:{text}"))
    return controller, changes


def result(source: str, index: int = 0, payload=None) -> TaskResult:
    frame = Frame(np.zeros((720, 1280, 3), np.uint8), index, index / 10.0, source)
    payload = payload or Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                                    NAMES, (1280, 720))
    return TaskResult("detect", frame, payload, Timings(0, 0, 0, 0, 1, 1))


def test_settings_are_one_frozen_snapshot():
    controller, changes = make()
    first = controller.settings()
    assert isinstance(first, DetectSettings) and first.input_size == (416, 416)
    controller.set_thresholds(0.4, 0.5)
    controller.set_tracking(True)
    second = controller.settings()
    assert (second.conf_threshold, second.iou_threshold, second.tracking) == (0.4, 0.5, True)
    assert first.conf_threshold == 0.25  # the old snapshot did not change under anyone's feet
    with pytest.raises(AttributeError):
        second.conf_threshold = 0.9  # frozen
    assert changes.count("settings") == 2
    controller.select_model(next(i for i, e in enumerate(controller.entries) if not e.capabilities.adjustable_input))
    assert "model" in changes and controller.settings().input_size is None  # torchvision models size themselves


def test_lines_and_zones_by_clicks_saved_per_source_and_restored(tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    controller, changes = make(QSettingsStore(settings))
    controller.on_result(result("rtsp://***@10.0.0.5/live"))
    controller.begin("line")
    assert controller.click(0, 0)  # used for drawing, not for selecting
    controller.click(1280, 360)
    controller.begin("zone")
    for x, y in ((100, 100), (300, 100), (300, 300), (100, 300)):
        controller.click(x, y)
    controller.click(102, 101)  # back on the first corner: closes the zone
    assert [l.name for l in controller.regions.lines] == ["line 1"] and [z.name for z in controller.regions.zones] == ["zone 1"]
    assert controller.rename("zone", "zone 1", "bench") and not controller.rename("zone", "bench", "")
    assert controller.settings().regions == controller.regions
    settings.sync()
    assert "hunter" not in (tmp_path / "s.ini").read_text()

    restarted, _ = make(QSettingsStore(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)))
    restarted.on_result(result("rtsp://***@10.0.0.5/live"))
    assert restarted.regions == controller.regions
    restarted.on_result(result("other.mp4"))
    assert restarted.regions == Regions()  # each source has its own
    restarted.delete("line", "line 1")


def test_bad_saved_regions_are_reported_and_ignored():
    store = MemoryStore({"Detect/regions/cam.mp4": json.dumps({"lines": [{"name": "x", "p1": [1, 1], "p2": [1, 1]}]})})
    controller, changes = make(store)
    controller.on_result(result("cam.mp4"))
    assert controller.regions == Regions()
    assert any("were ignored" in c and "both points are the same" in c for c in changes)


def test_counts_rows_history_heat_and_events(tmp_path):
    controller, _ = make()
    controller.on_result(result("street.mp4"))
    controller.begin("line")
    controller.click(100, 400)
    controller.click(1100, 400)
    controller.set_heat(True, 1.0)
    scene = [MovingObject(1, 0, 0, 79, (300.0, 205.0), (0.0, 6.0))]
    analyzer = SceneAnalyzer(controller.regions, NAMES)
    for truth in render_detections(scene, 80):
        tracked = analyzer.step(truth.det_boxes, truth.det_scores, truth.det_class_ids, truth.index / 10.0, truth.index)
        dets = Detections(truth.det_boxes, truth.det_scores, truth.det_class_ids, NAMES, (1280, 720))
        controller.on_result(result("street.mp4", truth.index, TrackedDetections(dets, tracked)))
    rows = controller.count_rows()
    assert ("line", "line 1", "in / out", "1 / 0") in rows and ("line", "line 1", "person", "1 / 0") in rows
    series = controller.counts_series()
    assert series["line 1 in"][1][-1] == 1 and series["line 1 in"][1][0] == 0
    heat = controller.heat_image()
    assert heat is not None and heat.max() == 1.0
    assert controller.export_events(tmp_path / "events.json") == 1
    with pytest.raises(ValueError):
        controller.export_events(tmp_path / "events.xls")


def test_stream_urls_are_stored_without_passwords(tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    url = "rtsp://admin:hunter2@192.168.1.20:554/stream1"
    remember_stream(settings, url)
    remember_stream(settings, "http://cam.local/mjpg?user=me&pwd=secret")
    assert recent_streams(settings) == ["http://cam.local/mjpg", "rtsp://192.168.1.20:554/stream1"]
    assert storable_spec(url) == storable_url(url) and storable_spec("clip.mp4") == "clip.mp4"
    settings.sync()
    text = (tmp_path / "s.ini").read_text()
    assert "hunter2" not in text and "secret" not in text and "admin" not in text
