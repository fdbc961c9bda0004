"""Editing lines and zones while counting (issue 27, item 1): drawing a new zone, renaming
or deleting a region keeps the totals of every region whose geometry did not change."""

from __future__ import annotations

from engine.features.detect.counting import CountLine, Regions, Zone
from engine.features.detect.scene_analysis import SceneAnalyzer
from engine.features.detect.synthetic_scenes import MovingObject, render_detections
from engine.models.catalog import catalog
from tests.detect.test_detect_tab import context, installed_tab, tab, tracked_results  # noqa: F401 (fixtures)

NAMES = tuple(catalog().get("yolov4-tiny").meta["categories"])
# Two objects cross y=400 downwards ("in" for a line drawn left to right), one upwards.
SCENE = [MovingObject(1, 0, 0, 89, (300.0, 205.0), (0.0, 6.0)),
         MovingObject(2, 0, 0, 89, (700.0, 220.0), (0.0, 6.0)),
         MovingObject(3, 2, 0, 89, (900.0, 602.0), (0.0, -5.0))]
LINE = CountLine("door", (100.0, 400.0), (1100.0, 400.0))


def _line_totals(tracked, name):
    c = tracked.counts["lines"][name]
    return c["in_total"], c["out_total"]


def test_the_analyzer_keeps_the_counts_of_unchanged_regions():
    frames = render_detections(SCENE, 90)
    analyzer = SceneAnalyzer(Regions(lines=(LINE,)), NAMES)
    for truth in frames[:60]:
        tracked = analyzer.step(truth.det_boxes, truth.det_scores, truth.det_class_ids, truth.index / 10, truth.index)
    before = _line_totals(tracked, "door")
    assert before == (2, 1)
    zone = Zone("yard", ((0.0, 0.0), (200.0, 0.0), (200.0, 200.0)))
    analyzer.set_regions(Regions(lines=(LINE,), zones=(zone,)))  # a zone drawn
    truth = frames[60]
    tracked = analyzer.step(truth.det_boxes, truth.det_scores, truth.det_class_ids, 6.0, 60)
    assert _line_totals(tracked, "door") == before
    renamed = CountLine("gate", LINE.p1, LINE.p2)
    analyzer.set_regions(Regions(lines=(renamed,), zones=(zone,)))  # the line renamed
    truth = frames[61]
    tracked = analyzer.step(truth.det_boxes, truth.det_scores, truth.det_class_ids, 6.1, 61)
    assert _line_totals(tracked, "gate") == before and "door" not in tracked.counts["lines"]
    moved = CountLine("gate", (100.0, 300.0), (1100.0, 300.0))
    analyzer.set_regions(Regions(lines=(moved,), zones=(zone,)))  # a moved line counts afresh
    truth = frames[62]
    tracked = analyzer.step(truth.det_boxes, truth.det_scores, truth.det_class_ids, 6.2, 62)
    assert _line_totals(tracked, "gate") == (0, 0)


def test_drawing_a_zone_and_renaming_in_the_tab_keep_the_counts(qtbot, installed_tab, monkeypatch):
    tab = installed_tab
    frames = render_detections(SCENE, 90)
    results = tracked_results(frames, SceneAnalyzer(), NAMES)
    tab.on_result(next(results)[0])  # the tab knows the source
    tab.regions_box.line_button.click()
    tab.on_frame_clicked(100.0, 400.0)
    tab.on_frame_clicked(1100.0, 400.0)
    # The worker's analyzer follows each settings snapshot, as DetectionTask.configure does.
    analyzer = SceneAnalyzer(tab.task_settings().regions, NAMES)
    tab.settings_changed.connect(lambda: analyzer.set_regions(tab.task_settings().regions))
    results = tracked_results(frames, analyzer, NAMES)
    for _ in range(60):
        tab.on_result(next(results)[0])
    tab.refresh_views()
    assert ("line 1", "in / out", "2 / 1") in tab.regions_box.texts()

    tab.regions_box.zone_button.click()
    for x, y in ((0, 0), (200, 0), (200, 200)):
        tab.on_frame_clicked(float(x), float(y))
    tab.regions_box.finish_button.click()
    assert [z.name for z in tab.task_settings().regions.zones] == ["zone 1"]
    tab.on_result(next(results)[0])
    tab.refresh_views()
    assert ("line 1", "in / out", "2 / 1") in tab.regions_box.texts()

    tab.regions_box.list.setCurrentRow(0)
    monkeypatch.setattr("gui.features.detect.regions.QInputDialog.getText", lambda *a, **k: ("door", True))
    tab.regions_box.rename_button.click()
    tab.refresh_views()  # before the next result: the renamed line's counts already show
    assert ("door", "in / out", "2 / 1") in tab.regions_box.texts()
    tab.on_result(next(results)[0])
    tab.refresh_views()
    assert ("door", "in / out", "2 / 1") in tab.regions_box.texts()
    series = tab.controller.counts_series()
    assert "door in" in series and series["door in"][1][-3:].tolist() == [2, 2, 2]
