"""The Detect tab, offscreen: no weights -> clear instructions; download with progress;
import of generated yolov4-tiny weights -> live task, counts, overlay, grid, export, record."""

from __future__ import annotations

import csv
import json
import re
import time

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage, QPainter

from engine.detection.darknet.random_weights import synthetic_image
from engine.detection.task import DetectionTask
from engine.runtime import Timings, TaskResult
from engine.sources import Frame
from engine.weights.cache import WeightsCache
from engine.weights.catalog import CatalogEntry, ModelFile, catalog
from gui.context import AppContext
from gui.tabs.detect_tab import DetectTab, parse_size


@pytest.fixture()
def context(tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return AppContext(settings, torch.device("cpu"), weights_cache=WeightsCache(tmp_path / "models"))


@pytest.fixture()
def tab(qtbot, context):
    widget = DetectTab(context)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def run_task_once(task: DetectionTask, image: np.ndarray, index: int = 0) -> TaskResult:
    """Drive the task through its four steps as the worker does (same thread here)."""
    if task.detector is None:
        task.load(torch.device("cpu"))
    frame = Frame(image, index, time.monotonic(), "test")
    with torch.inference_mode():
        result = task.postprocess(task.infer(task.preprocess(frame)), frame)
    return TaskResult(task.name, frame, result, Timings(1.0, 2.0, 30.0, 3.0, 35.0, 40.0))


def render_overlay(tab: DetectTab, image: np.ndarray) -> np.ndarray:
    canvas = np.ascontiguousarray(image.copy())
    h, w = canvas.shape[:2]
    qimage = QImage(canvas.data, w, h, canvas.strides[0], QImage.Format.Format_BGR888)
    painter = QPainter(qimage)
    tab.paint_overlay(painter, w, h)
    painter.end()
    return canvas


def test_without_weights_the_tab_says_what_to_do(tab, context):
    assert tab.entry.name == "yolov4-tiny"  # the catalog default
    assert tab.make_task() is None
    text = tab.model_state.text()
    assert "not installed" in text and "Download" in text and "Import" in text
    assert tab.download_button.isEnabled() and tab.import_button.isEnabled()
    # The video shows the same instruction.
    blank = np.zeros((240, 320, 3), np.uint8)
    assert render_overlay(tab, blank).any()
    # The class checklist is there already, searchable.
    tab.class_filter.search.setText("traffic")
    visible = [tab.class_filter.list.item(i).text() for i in range(tab.class_filter.list.count())
               if not tab.class_filter.list.item(i).isHidden()]
    assert visible == ["traffic light"]


def test_import_then_detect_count_paint_export_and_record(qtbot, tab, context, darknet_weights, tmp_path):
    _, weights = darknet_weights("yolov4-tiny")
    with qtbot.waitSignal(tab.task_changed):
        assert tab.import_weights(weights)
    assert "installed" in context.last_status and not tab.download_button.isEnabled()
    tab.size_combo.setCurrentText("320x256")
    task = tab.make_task()
    assert isinstance(task, DetectionTask) and task.input_size == (320, 256)

    image = synthetic_image(240, 320, seed=7)
    result = run_task_once(task, image)
    tab.on_result(result)
    detections = tab.detections
    assert detections is not None and len(detections) > 0
    # Live per-class counts, most frequent first, and the detection list.
    counts = detections.counts()
    assert tab.counts.texts()[0] == f"{next(iter(counts))}  {next(iter(counts.values()))}"
    assert tab.detection_list.count() == len(detections)
    assert tab.perf.sample_count() == 1

    # Sliders and the class filter act on the running task without a reload.
    tab.conf_slider.setValue(60)
    assert task.conf_threshold == pytest.approx(0.60)
    keep = int(detections.class_ids[0])
    tab.class_filter.set_all(False)
    item = next(tab.class_filter.list.item(i) for i in range(tab.class_filter.list.count())
                if tab.class_filter.list.item(i).text() == detections.class_names[keep])
    from PySide6.QtCore import Qt
    item.setCheckState(Qt.CheckState.Checked)
    assert task.class_filter == {keep}
    filtered = run_task_once(task, image, 1).result
    assert set(filtered.class_ids.tolist()) <= {keep} and (filtered.scores > 0.6).all()
    tab.class_filter.set_all(True)
    tab.conf_slider.setValue(25)

    # Boxes are painted in the class colour; the grid view explains the selected detection.
    painted = render_overlay(tab, image)
    assert (painted != image).any(axis=2).sum() > 100
    tab.grid_check.setChecked(True)
    tab.detection_list.setCurrentRow(0)
    with_grid = render_overlay(tab, image)
    assert (with_grid != painted).any()
    origin = detections.origins[0]
    assert f"cell ({origin[1]}, {origin[2]})" in tab.grid_label.text()
    assert f"head {origin[0] + 1}" in tab.grid_label.text()
    x1, y1, x2, y2 = detections.boxes[-1]
    tab.select_at(float(x1 + x2) / 2, float(y1 + y2) / 2)
    assert tab.selected is not None

    # Export CSV and JSON.
    assert tab.export_detections(tmp_path / "dets.csv")
    rows = list(csv.DictReader((tmp_path / "dets.csv").open()))
    assert len(rows) == len(detections) and rows[0]["label"] == detections.labels[0]
    assert tab.export_detections(tmp_path / "dets.json")
    data = json.loads((tmp_path / "dets.json").read_text())
    assert (data["width"], data["height"]) == (320, 240) and len(data["detections"]) == len(detections)
    assert not tab.export_detections(tmp_path / "dets.txt") and context.last_error is not None

    # The fast mode builds a new bfloat16 model (where the CPU supports it).
    if tab.fast_check.isEnabled():
        with qtbot.waitSignal(tab.task_changed):
            tab.fast_check.setChecked(True)
        fast_task = tab.make_task()
        fast_task.load(torch.device("cpu"))
        assert fast_task.detector.dtype == torch.bfloat16
        tab.fast_check.setChecked(False)

    # Record annotated video from the results.
    video = tmp_path / "rec.avi"
    assert tab.start_recording(video, fps=5)
    for i in range(3):
        tab.on_result(run_task_once(task, image, 2 + i))
    assert tab.stop_recording() == 3
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (240, 320, 3)


def test_download_shows_progress_and_installs(qtbot, context, darknet_weights, tmp_path):
    """A catalog entry whose URL is a local file: the real download job, progress and all."""
    _, weights = darknet_weights("yolov4-tiny")
    base = catalog().get("yolov4-tiny")
    entry = CatalogEntry(name="yolov4-tiny-local", task="detect", title="YOLOv4-tiny (local copy)",
                         files=(ModelFile("yolov4-tiny-local.weights", weights.as_uri(), size=weights.stat().st_size),),
                         license=base.license, source=base.source, extra=dict(base.extra), default=True,
                         validator=base.validator)
    tab = DetectTab(context, entries=[entry])
    qtbot.addWidget(tab)
    reports = []
    tab.runner.progress.connect(reports.append)
    with qtbot.waitSignal(tab.runner.finished, timeout=30000):
        tab.download_selected()
        assert not tab.progress.isHidden()  # shown while the job runs
    assert context.weights_cache.is_installed(entry)
    assert reports and reports[-1][0] == reports[-1][1] == weights.stat().st_size
    assert tab.progress.isHidden() and isinstance(tab.make_task(), DetectionTask)
    tab.shutdown()


def test_bad_import_and_bad_size_are_reported(tab, context, tmp_path):
    junk = tmp_path / "junk.weights"
    junk.write_bytes(b"\0" * 1000)
    assert not tab.import_weights(junk)
    assert context.last_error is not None
    assert re.search(r"does not fit yolov4-tiny.cfg: expected 24,251,27\d bytes, got 1,000 bytes", context.last_error[1])
    tab.size_combo.setCurrentText("300x300")
    tab._on_size()
    assert "multiples of 32" in context.last_status
    assert parse_size("608x352") == (608, 352) and parse_size("416") is None
