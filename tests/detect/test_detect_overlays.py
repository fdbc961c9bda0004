"""How the Detect overlays look (issue 27, item 12): a zone's caption never covers a
detection's label, and a heat map cell walked through once is plainly visible next to
one that is busy all the time."""

from __future__ import annotations

import numpy as np

from engine.features.detect.counting import Regions, Zone
from engine.features.detect.types import Detections
from engine.models.catalog import catalog
from tests.detect.test_detect_tab import context, installed_tab, render_overlay, result_of, tab  # noqa: F401

NAMES = tuple(catalog().get("yolov4-tiny").meta["categories"])


def _detections(boxes, classes=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    return Detections(boxes, np.full(n, 0.9, np.float32),
                      np.asarray(classes if classes is not None else [0] * n, np.int64), NAMES, (640, 480), "test")


def test_a_zone_caption_does_not_cover_a_detection_label(installed_tab):
    tab = installed_tab
    image = np.full((480, 640, 3), 60, np.uint8)
    # The box's label sits just above its top-left corner, where the zone's caption goes too.
    detections = _detections([[200, 200, 400, 400]])
    tab.on_result(result_of(detections, image, 0, "yard.mp4"))
    without = render_overlay(tab, image)
    tab.controller._set_regions(Regions(zones=(Zone("a long zone name", ((200.0, 200.0), (600.0, 200.0),
                                                                         (600.0, 470.0))),)))
    with_zone = render_overlay(tab, image)
    label = without[178:197, 201:260]  # the caption "person 0.90" (class 0) above the box
    assert (label != 60).any()
    diff = np.argwhere((with_zone[178:197, 201:260] != label).any(axis=2))
    assert not len(diff), (diff.min(axis=0), diff.max(axis=0), with_zone[178 + diff[0][0], 201 + diff[0][1]], label[diff[0][0], diff[0][1]])
    assert (with_zone[178:197, 300:400] != without[178:197, 300:400]).any()  # the zone's caption is there, beside


def test_a_cell_seen_once_shows_next_to_a_busy_one(qtbot, installed_tab):
    tab = installed_tab
    image = np.zeros((480, 640, 3), np.uint8)
    tab.settings_box.heat_check.setChecked(True)
    for i in range(100):  # a parked car: the same cell, every frame
        tab.on_result(result_of(_detections([[20, 20, 60, 60]]), image, i, "street.mp4"))
    tab.on_result(result_of(_detections([[20, 20, 60, 60], [400, 300, 440, 340]]), image, 100, "street.mp4"))
    tab.refresh_views()
    tab.on_result(result_of(_detections(np.zeros((0, 4))), image, 101, "street.mp4"))  # no box over the cells
    out = render_overlay(tab, image)
    busy, once = out[44, 44], out[324, 420]  # the centres of their 8-pixel cells
    assert busy.max() > 60
    assert once.max() >= 50, f"the cell seen once is too faint: {once.tolist()}"
