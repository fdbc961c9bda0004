"""The Detect tab, offscreen: no weights -> clear instructions; download with progress;
import of generated yolov4-tiny weights -> live task and settings snapshots, counts,
boxes painted exactly where the detections are, the grid view, export; bounded painting
of crowded frames; lines drawn with clicks, counted and painted; plots that say what they plot."""

from __future__ import annotations

import csv
import json
import re
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from engine.core.frame import Frame
from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.controller import parse_size
from engine.features.detect.scene_analysis import SceneAnalyzer
from engine.features.detect.synthetic_scenes import MovingObject, render_detections
from engine.features.detect.task import DetectionTask, TrackedDetections
from engine.features.detect.types import Detections
from engine.models.cache import WeightsCache
from engine.models.catalog import Capabilities, CatalogEntry, InputSize, ModelFile, Transforms, catalog
from engine.runtime.sync import run_task
from engine.runtime.worker import TaskResult, Timings
from gui.common.context import AppContext
from gui.common.video_view import VideoView
from gui.features.detect.overlay import class_qcolor
from gui.features.detect.tab import DetectTab

TIMINGS = Timings(1.0, 2.0, 30.0, 3.0, 35.0, 40.0)


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


@pytest.fixture()
def installed_tab(qtbot, tab, darknet_weights):
    _, weights = darknet_weights("yolov4-tiny")
    with qtbot.waitSignal(tab.task_changed):
        assert tab.import_weights(weights)
    return tab


def run_task_once(task: DetectionTask, image: np.ndarray, index: int = 0, source: str = "test") -> TaskResult:
    """One frame through the task with the runner the worker and the CLI share (same thread here);
    the task is loaded on the first call and stays loaded, as in a worker."""
    if task.detector is None:
        task.load(torch.device("cpu"))
    frame = Frame(image, index, time.monotonic(), source)
    return next(run_task(task, [frame], device="cpu", load=False))


def result_of(detections, image: np.ndarray, index: int = 0, source: str = "test", tracked=None) -> TaskResult:
    frame = Frame(image, index, float(index), source)
    payload = detections if tracked is None else TrackedDetections(detections, tracked)
    return TaskResult("detect", frame, payload, TIMINGS)


def render_overlay(tab: DetectTab, image: np.ndarray) -> np.ndarray:
    """``image`` with the tab's overlays, as a snapshot draws them (a real VideoView)."""
    view = VideoView()
    view.set_raster_overlay(tab.raster_overlay)
    view.set_overlay_painter(tab.paint_overlay)
    view.show_image(image)
    return view.render_composited()


def bgr(class_id: int) -> list[int]:
    c = class_qcolor(class_id)
    return [c.blue(), c.green(), c.red()]


def test_without_weights_the_tab_says_what_to_do(tab, context):
    assert tab.entry.name == "yolov4-tiny"  # the catalog default
    assert tab.make_task() is None
    text = tab.model_box.state.text()
    assert "not installed" in text and "Download" in text and "Import" in text
    assert tab.model_box.download_button.isEnabled() and tab.model_box.import_button.isEnabled()
    blank = np.zeros((240, 320, 3), np.uint8)
    assert render_overlay(tab, blank)[:20].any()  # the video shows the same instruction, in a band at the top
    tab.class_filter.search.setText("traffic")
    visible = [tab.class_filter.list.item(i).text() for i in range(tab.class_filter.list.count())
               if not tab.class_filter.list.item(i).isHidden()]
    assert visible == ["traffic light"]


def test_import_then_detect_with_settings_snapshots_counts_grid_and_export(qtbot, installed_tab, context, tmp_path):
    tab = installed_tab
    assert "installed" in context.last_status and not tab.model_box.download_button.isEnabled()
    tab.settings_box.size_combo.setCurrentText("320x256")
    tab._on_size()
    task = tab.make_task()
    assert isinstance(task, DetectionTask) and task.settings.input_size == (320, 256)
    image = synthetic_image(240, 320, seed=7)
    tab.on_result(run_task_once(task, image))
    detections = tab.detections
    assert detections is not None and len(detections) > 0
    tab.refresh_views()
    counts = detections.counts()
    assert tab.counts.texts()[0] == f"{next(iter(counts))}  {next(iter(counts.values()))}"
    assert tab.detection_list.count() == len(detections)
    assert tab.perf.sample_count() == 1

    # A live change is one new snapshot, announced with settings_changed and applied by configure.
    with qtbot.waitSignal(tab.settings_changed):
        tab.settings_box.conf_slider.setValue(60)
    keep = int(detections.class_ids[0])
    tab.class_filter.set_all(False)
    item = next(tab.class_filter.list.item(i) for i in range(tab.class_filter.list.count())
                if tab.class_filter.list.item(i).text() == detections.class_names[keep])
    item.setCheckState(Qt.CheckState.Checked)
    snapshot = tab.task_settings()
    assert snapshot.conf_threshold == pytest.approx(0.60) and snapshot.class_filter == frozenset({keep})
    task.configure(snapshot)
    filtered = run_task_once(task, image, 1).result
    assert set(filtered.class_ids.tolist()) <= {keep} and (filtered.scores > 0.6).all()
    tab.class_filter.set_all(True)
    tab.settings_box.conf_slider.setValue(25)
    task.configure(tab.task_settings())
    tab.on_result(run_task_once(task, image, 2))
    detections = tab.detections

    # The grid view explains the selected detection.
    painted = render_overlay(tab, image)
    tab.settings_box.grid_check.setChecked(True)
    tab.detection_list.setCurrentRow(0)
    assert (render_overlay(tab, image) != painted).any()
    tab.refresh_views()
    origin = detections.origins[0]
    assert f"cell ({origin[1]}, {origin[2]})" in tab.settings_box.grid_label.text()
    x1, y1, x2, y2 = detections.boxes[-1]
    tab.select_at(float(x1 + x2) / 2, float(y1 + y2) / 2)
    assert tab.selected is not None

    # The export writes the session: both frames the tab saw, with source, frame index and time.
    assert tab.export_detections(tmp_path / "dets.csv")
    rows = list(csv.DictReader((tmp_path / "dets.csv").open()))
    assert len(rows) == len(tab.controller.session[0].detections) + len(detections)
    assert rows[-1]["label"] == detections.labels[-1] and {r["frame"] for r in rows} == {"0", "2"}
    assert {r["source"] for r in rows} == {"test"} and {r["time_base"] for r in rows} == {"wall"}
    assert tab.export_detections(tmp_path / "dets.json")
    data = json.loads((tmp_path / "dets.json").read_text())
    assert [(f["frame"], f["width"], f["height"]) for f in data] == [(0, 320, 240), (2, 320, 240)]
    assert len(data[-1]["detections"]) == len(detections)
    assert not tab.export_detections(tmp_path / "dets.txt") and context.last_error is not None
    assert not hasattr(tab, "start_recording")  # the main window records what the view shows

    combo = tab.settings_box.precision_combo
    if "bf16" in tab.controller.precision_choices():  # the fast mode builds a new bfloat16 model
        with qtbot.waitSignal(tab.task_changed):
            combo.setCurrentIndex(combo.findData("bf16"))
        fast_task = tab.make_task()
        fast_task.load(torch.device("cpu"))
        assert fast_task.detector.dtype == torch.bfloat16
        combo.setCurrentIndex(combo.findData("fp32"))


def test_a_box_is_painted_exactly_where_the_detection_is(installed_tab):
    image = np.full((240, 320, 3), 90, np.uint8)
    box = (60.0, 80.0, 200.0, 180.0)
    detections = Detections(np.array([box], np.float32), np.array([0.9], np.float32), np.array([2]),
                            tuple(catalog().get("yolov4-tiny").meta["categories"]), (320, 240), "test")
    installed_tab.on_result(result_of(detections, image))
    out = render_overlay(installed_tab, image)
    colour = bgr(2)
    x1, y1, x2, y2 = (int(v) for v in box)
    mid_y, mid_x = (y1 + y2) // 2, (x1 + x2) // 2

    def edge_hit(pixels) -> bool:
        return any((p == colour).all() for p in pixels)

    assert edge_hit(out[mid_y, x1 - 1:x1 + 2]) and edge_hit(out[mid_y, x2 - 1:x2 + 2])  # left and right edges
    assert edge_hit(out[y2 - 1:y2 + 2, mid_x])  # bottom edge
    assert (out[mid_y, x1 + 4] == 90).all() and (out[mid_y + 10, mid_x] == 90).all()  # inside: untouched
    assert (out[mid_y, x1 - 6] == 90).all() and (out[y2 + 6, mid_x] == 90).all()  # outside: untouched
    assert (out[y1 - 2, x1 + 1] == colour).all()  # the caption (its left margin) sits on top of the box


def test_crowded_frames_draw_every_box_but_cap_the_labels(installed_tab):
    rng = np.random.default_rng(1)
    n = 300
    xy = rng.uniform(0, 600, (n, 2))
    boxes = np.concatenate((xy, xy + 20), axis=1).astype(np.float32)
    names = tuple(catalog().get("yolov4-tiny").meta["categories"])
    detections = Detections(boxes, rng.uniform(0.3, 1, n).astype(np.float32), rng.integers(0, 5, n), names,
                            (640, 640), "test")
    image = np.zeros((640, 640, 3), np.uint8)
    installed_tab.on_result(result_of(detections, image))
    from gui.features.detect import raster_boxes
    before = raster_boxes.CAPTIONS.rendered
    out = render_overlay(installed_tab, image)
    rendered = raster_boxes.CAPTIONS.rendered - before
    best = np.argsort(-detections.scores, kind="stable")[:raster_boxes.MAX_LABELS]
    words_shown = {w for i in best.tolist() for w in f"{detections.labels[i]} {detections.scores[i]:.2f}".split()}
    assert rendered <= len(words_shown)  # captions beyond the cap are not even laid out
    render_overlay(installed_tab, image)
    assert raster_boxes.CAPTIONS.rendered - before == rendered  # the second paint reuses every caption
    # The note in the bottom-left corner says what was left out.
    assert out[600:640, 0:200].max() == 255


def tracked_results(frames, analyzer: SceneAnalyzer, names, size=(1280, 720)):
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for truth in frames:
        tracked = analyzer.step(truth.det_boxes, truth.det_scores, truth.det_class_ids, truth.index / 10.0, truth.index)
        detections = Detections(truth.det_boxes, truth.det_scores, truth.det_class_ids, names, size, "test")
        yield result_of(detections, image, truth.index, "street.mp4", tracked), image


def test_lines_are_drawn_with_clicks_counted_painted_and_survive_a_restart(qtbot, installed_tab, context, tmp_path):
    tab = installed_tab
    names = tuple(catalog().get("yolov4-tiny").meta["categories"])
    scene = [MovingObject(1, 0, 0, 79, (300.0, 205.0), (0.0, 6.0)), MovingObject(2, 2, 0, 89, (900.0, 602.0), (0.0, -5.0))]
    frames = render_detections(scene, 90)
    first, image = next(tracked_results(frames[:1], SceneAnalyzer(), names))
    tab.on_result(first)  # the tab now knows the source: street.mp4
    tab.regions_box.line_button.click()
    assert tab.controller.tracking and tab.settings_box.track_check.isChecked()  # counting needs ids
    tab.on_frame_clicked(100.0, 400.0)
    with qtbot.waitSignal(tab.settings_changed):
        tab.on_frame_clicked(1100.0, 400.0)
    snapshot = tab.task_settings()
    assert [line.name for line in snapshot.regions.lines] == ["line 1"] and snapshot.tracking
    # Both points equal: refused with a message, nothing added.
    tab.regions_box.line_button.click()
    tab.on_frame_clicked(50.0, 50.0)
    tab.on_frame_clicked(50.0, 50.0)
    assert "both points are the same" in context.last_status and len(tab.task_settings().regions.lines) == 1
    # A self-intersecting zone: refused.
    tab.regions_box.zone_button.click()
    for x, y in ((0, 0), (100, 100), (100, 0), (0, 100)):
        tab.on_frame_clicked(float(x), float(y))
    tab.regions_box.finish_button.click()
    assert "crosses itself" in context.last_status and not tab.task_settings().regions.zones

    analyzer = SceneAnalyzer(snapshot.regions, names)
    for result, image in tracked_results(frames, analyzer, names):
        tab.on_result(result)
    tab.refresh_views()
    rows = tab.regions_box.texts()
    assert ("line 1", "in / out", "1 / 1") in rows and ("line 1", "person", "1 / 0") in rows and ("line 1", "car", "0 / 1") in rows
    out = render_overlay(tab, image)
    assert (out[400, 640] == [60, 220, 255]).all()  # the line, in its colour, where it was drawn
    assert tab.export_events(tmp_path / "events.csv")
    assert len(list(csv.DictReader((tmp_path / "events.csv").open()))) == 2

    # Saved with the source: a new tab (a restart) shows the line again for that source.
    context.settings.sync()
    again = DetectTab(AppContext(QSettings(context.settings.fileName(), QSettings.Format.IniFormat),
                                 torch.device("cpu"), weights_cache=context.weights_cache))
    qtbot.addWidget(again)
    again.on_result(first)
    assert [line.name for line in again.task_settings().regions.lines] == ["line 1"]
    again.shutdown()


def test_plots_say_what_they_plot_and_latency_never_reads_kms(installed_tab):
    perf = installed_tab.perf
    for i in range(5):
        perf.add_sample(2.0, 2500.0 + i, now=float(i))
    installed_tab.show()
    installed_tab.plots.setCurrentWidget(perf)
    perf.redraw()
    assert [p.label for p in perf.chart.panels] == ["results/s", "latency (ms)"]
    # Latencies of 2.5 s read in plain milliseconds: no SI prefix ("kms") on any tick.
    assert perf.chart.y_ticks(1) == [(0.0, "0"), (2500.0, "2500"), (5000.0, "5000")]


def test_download_shows_progress_and_installs(qtbot, context, darknet_weights, tmp_path):
    """A catalog entry whose URL is a local file: the real download job, progress and all."""
    _, weights = darknet_weights("yolov4-tiny")
    base = catalog().get("yolov4-tiny")
    entry = CatalogEntry(name="yolov4-tiny-local", task="detect", title="YOLOv4-tiny (local copy)",
                         files=(ModelFile("yolov4-tiny-local.weights", weights.as_uri(), size=weights.stat().st_size),),
                         license=base.license, source=base.source, transforms=base.transforms, meta=base.meta,
                         builder=base.builder, default=True, validator=base.validator, capabilities=base.capabilities)
    tab = DetectTab(context, entries=[entry])
    qtbot.addWidget(tab)
    reports = []
    tab.runner.progress.connect(reports.append)
    with qtbot.waitSignal(tab.runner.finished, timeout=30000):
        tab.download_selected()
        assert not tab.model_box.progress.isHidden()  # shown while the job runs
    assert context.weights_cache.is_installed(entry)
    assert reports and reports[-1][0] == reports[-1][1] == weights.stat().st_size
    assert tab.model_box.progress.isHidden()
    task = tab.make_task()
    assert isinstance(task, DetectionTask)
    task.load(torch.device("cpu"))
    assert task.detector.name == "yolov4-tiny-local"  # built by the entry's own builder
    tab.shutdown()


def test_bad_import_and_bad_size_are_reported(tab, context, tmp_path):
    junk = tmp_path / "junk.weights"
    junk.write_bytes(b"\0" * 1000)
    assert not tab.import_weights(junk)
    assert context.last_error is not None
    assert re.search(r"does not fit yolov4-tiny.cfg: expected 24,251,27\d bytes, got 1,000 bytes", context.last_error[1])
    tab.settings_box.size_combo.setCurrentText("300x300")
    tab._on_size()
    assert "multiples of 32" in context.last_status
    assert parse_size("608x352") == (608, 352) and parse_size("416") is None


def test_lists_follow_each_result_in_place(installed_tab):
    """The detection and count lists show the newest result; shorter results drop rows."""
    names = tuple(catalog().get("yolov4-tiny").meta["categories"])
    image = np.zeros((240, 320, 3), np.uint8)

    def detections(rows):
        boxes = np.array([b for b, _, _ in rows], np.float32).reshape(-1, 4)
        return Detections(boxes, np.array([s for _, s, _ in rows], np.float32), np.array([c for _, _, c in rows]),
                          names, (320, 240), "test")

    first = detections([((10, 10, 50, 60), 0.91, 0), ((60, 20, 120, 90), 0.55, 2), ((5, 100, 40, 200), 0.42, 0)])
    installed_tab.on_result(result_of(first, image, 0))
    installed_tab.refresh_views()
    texts = [installed_tab.detection_list.item(i).text() for i in range(installed_tab.detection_list.count())]
    assert texts == [f"{names[0]} 0.91  [10, 10, 50, 60]", f"{names[2]} 0.55  [60, 20, 120, 90]",
                     f"{names[0]} 0.42  [5, 100, 40, 200]"]
    assert sorted(installed_tab.counts.texts()) == sorted([f"{names[0]}  2", f"{names[2]}  1"])
    installed_tab.detection_list.setCurrentRow(2)
    assert installed_tab.selected == 2
    second = detections([((12, 11, 52, 61), 0.88, 2)])
    installed_tab.on_result(result_of(second, image, 1))
    installed_tab.refresh_views()
    assert installed_tab.detection_list.count() == 1
    assert installed_tab.detection_list.item(0).text() == f"{names[2]} 0.88  [12, 11, 52, 61]"
    assert installed_tab.detection_list.currentRow() == -1 and installed_tab.selected is None  # row 2 is gone
    assert installed_tab.counts.texts() == [f"{names[2]}  1"]
    assert installed_tab.counts.item(0).foreground().color() == class_qcolor(2)  # the row took the new class's colour


def test_boxes_leave_the_live_picture_when_results_are_cleared_without_a_new_frame(qtbot, installed_tab):
    """The composed picture is cached; a model switch with the video stopped must still
    take the old boxes off the screen."""
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(320, 240)
    view.show()
    installed_tab.context.video_view = view
    view.set_raster_overlay(installed_tab.raster_overlay)
    view.set_overlay_painter(installed_tab.paint_overlay)
    image = np.full((240, 320, 3), 90, np.uint8)
    names = tuple(catalog().get("yolov4-tiny").meta["categories"])
    detections = Detections(np.array([[60.0, 80.0, 200.0, 180.0]], np.float32), np.array([0.9], np.float32),
                            np.array([2]), names, (320, 240), "test")
    installed_tab.on_result(result_of(detections, image))
    view.show_image(image)
    edge = view.grab().toImage().pixelColor(60, 130).getRgb()[:3]
    assert edge == class_qcolor(2).getRgb()[:3]
    installed_tab.controller.clear_results()
    installed_tab.controller.task_changed.emit()  # what a model switch announces
    assert view.grab().toImage().pixelColor(60, 130).getRgb()[:3] != edge


def test_a_box_on_the_frame_edge_shows_all_four_sides(installed_tab):
    image = np.full((240, 320, 3), 90, np.uint8)
    names = tuple(catalog().get("yolov4-tiny").meta["categories"])
    detections = Detections(np.array([[200.0, 120.0, 320.0, 240.0]], np.float32), np.array([0.9], np.float32),
                            np.array([4]), names, (320, 240), "test")
    installed_tab.on_result(result_of(detections, image))
    out = render_overlay(installed_tab, image)
    colour = bgr(4)
    assert (out[180, 319] == colour).all() and (out[239, 260] == colour).all()  # right and bottom, on the border


def _toy(name: str, capabilities, size=None):
    """A detect entry that only has to be listed: the tab reads its capabilities."""
    return CatalogEntry(name=name, task="detect", title=name, files=(ModelFile(f"{name}.pt", "https://example.invalid/x"),),
                        license="none", source="here", transforms=Transforms(size=size), capabilities=capabilities,
                        meta={"categories": ("thing",)})


def test_controls_follow_the_models_capabilities(qtbot, context):
    """Shown, hidden and enabled as each entry's capabilities say, never by its name."""
    yolo = catalog().get("yolov4-tiny")
    fixed = catalog().get("ssdlite320_mobilenet_v3_large")
    toy_set = _toy("toy-set", Capabilities(input_size=InputSize((640, 640)), postprocess="set", tracks=True), (640, 640))
    toy_free = _toy("toy-free", Capabilities(input_size=InputSize((96, 64), adjustable=True, multiple=16, min_side=32),
                                             postprocess="nms", tracks=True), (96, 64))
    tab = DetectTab(context, entries=[yolo, fixed, toy_set, toy_free])
    qtbot.addWidget(tab)
    s = tab.settings_box

    def shown(widget) -> bool:
        return not widget.isHidden()

    assert tab.entry is yolo
    assert shown(s.iou_row) and shown(s.size_row) and s.size_combo.isEnabled() and shown(s.grid_check)
    assert s.size_rule.text() == "× 32" and "multiples of 32" in s.size_combo.toolTip()
    assert s.track_check.isEnabled()

    tab.model_box.combo.setCurrentIndex(1)  # torchvision: a fixed input, NMS, no grid
    assert tab.entry is fixed
    assert shown(s.iou_row) and shown(s.size_row) and not s.size_combo.isEnabled()
    assert s.size_combo.currentText() == "320x320" and s.size_rule.text() == "fixed"
    assert not shown(s.grid_check) and not shown(s.grid_label)
    assert [s.precision_combo.itemData(i) for i in range(s.precision_combo.count())] == ["fp32"]
    assert not s.precision_combo.isEnabled()
    assert tab.task_settings().input_size is None

    tab.model_box.combo.setCurrentIndex(2)  # set prediction: no NMS, so no IoU slider
    assert not shown(s.iou_row) and not shown(s.grid_check) and not s.size_combo.isEnabled()
    assert s.size_combo.currentText() == "640x640"

    tab.model_box.combo.setCurrentIndex(3)  # another multiple: its presets and its rule
    assert shown(s.iou_row) and s.size_combo.isEnabled() and s.size_rule.text() == "× 16"
    presets = [s.size_combo.itemText(i) for i in range(s.size_combo.count())]
    assert presets and all(int(v) % 16 == 0 for p in presets for v in p.split("x"))
    s.size_combo.setCurrentText("100x64")
    tab._on_size()
    assert "multiples of 16" in context.last_status and "96x64 or 112x64" in context.last_status
    s.size_combo.setCurrentText("112x48")
    tab._on_size()
    assert tab.task_settings().input_size == (112, 48)

    tab.model_box.combo.setCurrentIndex(0)  # back: the YOLO controls again, grid and all
    assert shown(s.grid_check) and s.size_combo.isEnabled() and s.size_rule.text() == "× 32"
    # 112x48 was chosen for the x16 model; YOLO runs at its default, and the box says so.
    assert tab.task_settings().input_size is None and s.size_combo.currentText() == "416x416"
    tab.shutdown()


def test_precision_choices_are_what_the_model_and_the_device_share():
    from engine.core.store import MemoryStore
    from engine.features.detect.controller import DetectController

    yolo, fixed = catalog().get("yolov4-tiny"), catalog().get("ssdlite320_mobilenet_v3_large")
    store = MemoryStore({"Detect/bf16": "true"})  # a setting saved before precisions had names
    c = DetectController([yolo, fixed], store, device_precisions=("fp32", "bf16"))
    assert c.precision_choices() == ("auto", "fp32", "bf16") and c.effective_precision == "bf16"
    c.set_precision("int8")  # the model has it, this device does not
    assert c.effective_precision == "bf16" and c.precision_label == "bf16"
    c.set_precision("auto")
    assert c.precision_label == c.auto_label and c.auto_label.startswith("auto (")
    c.select_model(1)
    assert c.precision_choices() == ("fp32",) and c.effective_precision == "fp32"
    fresh = DetectController([yolo], MemoryStore({}), device_precisions=("fp32", "int8"))
    assert fresh.effective_precision == "auto"  # the default for a model with more than one mode
