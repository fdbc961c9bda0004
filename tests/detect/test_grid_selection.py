"""The grid explanation follows an object, not a row (issue 27, item 3): its track id while
tracking, else the best-overlapping box of the next result; the text goes with the grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.scene_analysis import SceneAnalyzer
from engine.features.detect.task import TrackedDetections
from engine.runtime.worker import TaskResult
from tests.detect.test_detect_tab import (  # noqa: F401 (fixtures)
    TIMINGS,
    context,
    installed_tab,
    render_overlay,
    result_of,
    run_task_once,
    tab,
)


def _first_result(tab):
    image = synthetic_image(240, 320, seed=7)
    result = run_task_once(tab.make_task(), image)
    assert len(result.result) >= 3
    return result, image


def _click_on(tab, row: int) -> int:
    """Click the centre of detection ``row``; returns the row that got selected."""
    x1, y1, x2, y2 = tab.detections.boxes[row].tolist()
    tab.select_at((x1 + x2) / 2, (y1 + y2) / 2)
    return tab.selected


def test_the_explanation_follows_the_box_when_rows_are_reordered(installed_tab):
    tab = installed_tab
    result, image = _first_result(tab)
    tab.on_result(result)
    tab.settings_box.grid_check.setChecked(True)
    d = tab.detections
    chosen = _click_on(tab, len(d) - 1)
    render_overlay(tab, image)
    tab.refresh_views()
    label = f"{d.labels[chosen]} {d.scores[chosen]:.2f}: "
    assert tab.settings_box.grid_label.text().startswith(label)
    # The next result lists the same objects in another order, each moved by a pixel.
    order = np.roll(np.arange(len(d)), 2)
    moved = d.select(order)
    object.__setattr__(moved, "boxes", moved.boxes + 1.0)
    tab.on_result(result_of(moved, image, 1, "test"))
    assert tab.selected == int(np.flatnonzero(order == chosen)[0])
    render_overlay(tab, image)
    tab.refresh_views()
    assert tab.settings_box.grid_label.text().startswith(label)
    # Unticking the grid clears the explanation.
    tab.settings_box.grid_check.setChecked(False)
    assert tab.settings_box.grid_label.text() == ""


def test_with_tracking_the_explanation_follows_the_track_id(installed_tab):
    tab = installed_tab
    result, image = _first_result(tab)
    d = result.result
    analyzer = SceneAnalyzer(class_names=d.class_names)
    tracked = analyzer.step(d.boxes, np.ones(len(d), np.float32), d.class_ids, 0.0, 0)
    tab.on_result(TaskResult("detect", result.frame, TrackedDetections(d, tracked), TIMINGS))
    tab.settings_box.grid_check.setChecked(True)
    chosen = _click_on(tab, 0)
    track_id = int(tracked.track_ids[chosen])
    assert track_id >= 0
    # The same objects, listed in reverse, with their track ids.
    order = np.arange(len(d))[::-1].copy()
    again = replace(tracked, track_ids=tracked.track_ids[order])
    frame = replace(result.frame, index=1)
    tab.on_result(TaskResult("detect", frame, TrackedDetections(d.select(order), again), TIMINGS))
    assert int(again.track_ids[tab.selected]) == track_id
    render_overlay(tab, image)
    tab.refresh_views()
    assert tab.settings_box.grid_label.text().startswith(f"{d.labels[chosen]} {d.scores[chosen]:.2f}: ")
