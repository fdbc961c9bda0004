"""Teach's Detector mode offscreen, with real widgets and files: draw a box with the mouse,
carry it to the next capture, confirm, delete, pick classes with number keys, import a
YOLO folder with bad labels, and the mode remembered."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from engine.core.frame import Frame
from engine.features.teach.controller import TeachController
from engine.features.teach.detection import labels as L
from engine.features.teach.detection.scenes import write_scenes
from engine.features.teach.detection.session import DetectorSession
from gui.common.context import AppContext
from gui.features.teach.tab import TeachTab

sys.path.insert(0, str(Path(__file__).parent))
from test_detection_carry import _video  # noqa: E402  (the synthesized moving object)

TRUTH = [(60 + 6.0 * t, 50 + 3.0 * t, 140 + 6.0 * t, 130 + 3.0 * t) for t in range(3)]


@pytest.fixture
def make_tab(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    frames = _video(TRUTH)
    feed = {"now": Frame(frames[0], 0, 0.0, "test")}

    def make():
        context = AppContext(settings, torch.device("cpu"), latest_frame=lambda: feed["now"])
        tab = TeachTab(context, controller=TeachController(projects_dir=tmp_path / "projects"),
                       detector_session=DetectorSession(tmp_path / "detectors"))
        qtbot.addWidget(tab)
        tab.resize(420, 1600)
        tab.show()
        return tab

    make.feed, make.frames = feed, frames
    return make


def _drag(canvas, box) -> None:
    """Press at the box's top-left, move, release at its bottom-right (picture pixels)."""
    a, b = canvas.to_widget(box[0], box[1]).toPoint(), canvas.to_widget(box[2], box[3]).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(canvas, (a + b) / 2)
    QTest.mouseMove(canvas, b)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def _label_lines(page, picture_id):
    return (page.session.project.root / "labels" / f"{picture_id}.txt").read_text().splitlines()


def test_draw_carry_confirm_and_delete(make_tab, qtbot):
    tab = make_tab()
    tab.mode_buttons["detector"].click()
    page = tab.detector_page
    assert tab.mode == "detector" and tab.make_task() is None  # labelling: no live classifier
    canvas = page.canvas

    # C captures the live frame; a box drawn with the mouse is written as a YOLO label at once
    assert tab.tab_key(Qt.Key.Key_C, True, False)
    first = page.picture_id
    _drag(canvas, TRUTH[0])
    lines = _label_lines(page, first)
    assert len(lines) == 1
    cls, cx, cy, w, h = (float(v) for v in lines[0].split())
    x1, y1, x2, y2 = TRUTH[0]
    assert cls == 0
    assert abs(cx * 320 - (x1 + x2) / 2) < 2 and abs(cy * 240 - (y1 + y2) / 2) < 2
    assert abs(w * 320 - (x2 - x1)) < 3 and abs(h * 240 - (y2 - y1)) < 3
    assert page.strip.captions() == ["1 box"]

    # the object moves; the next capture gets the box carried, dashed (unconfirmed)
    make_tab.feed["now"] = Frame(make_tab.frames[1], 1, 0.1, "test")
    page.capture_button.click()
    second = page.picture_id
    assert second != first and canvas.unconfirmed == {0}
    carried = canvas.boxes[0]
    iou_box = TRUTH[1]
    inter = max(0, min(carried[2], iou_box[2]) - max(carried[0], iou_box[0])) * \
        max(0, min(carried[3], iou_box[3]) - max(carried[1], iou_box[1]))
    assert inter / (80 * 80 * 2 - inter) > 0.8
    assert page.strip.captions() == ["1 box", "1 box\n1 to confirm"]
    state = json.loads((page.session.project.root / "detector.json").read_text())
    assert state["unconfirmed"] == {second: [0]}
    assert "carried" in tab.context.last_status

    # Enter confirms
    assert tab.tab_key(Qt.Key.Key_Return, True, False)
    assert canvas.unconfirmed == set() and page.strip.captions()[1] == "1 box"
    assert json.loads((page.session.project.root / "detector.json").read_text())["unconfirmed"] == {}

    # a second class by its number key; a box drawn now is of that class
    assert page.add_class("spoon")
    assert tab.tab_key(Qt.Key.Key_2, True, False) and page.session.current_class == 1
    _drag(canvas, (200, 150, 260, 200))
    assert [line.split()[0] for line in _label_lines(page, second)] == ["0", "1"]

    # click a box to select it, Delete removes it from the label file
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     canvas.to_widget(230, 175).toPoint())
    assert canvas.selected == 1
    assert tab.tab_key(Qt.Key.Key_Delete, True, False)
    assert [line.split()[0] for line in _label_lines(page, second)] == ["0"]

    # drag the remaining box by its middle: it moves, and is saved where it was dropped
    before = canvas.boxes[0].copy()
    middle = canvas.to_widget((before[0] + before[2]) / 2, (before[1] + before[3]) / 2).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, middle)
    QTest.mouseMove(canvas, middle + QPoint(20, 0))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, middle + QPoint(20, 0))
    moved = page.session.project.picture(second).boxes[0]
    assert moved[0] > before[0] + 10 and abs((moved[2] - moved[0]) - (before[2] - before[0])) < 1

    # review the first picture from the strip
    page.strip.setCurrentRow(0)
    assert page.picture_id == first and len(canvas.boxes) == 1

    # the mode is remembered: a new tab opens in Detector mode on the same project
    again = make_tab()
    assert again.mode == "detector"
    assert again.detector_page.session.project.root == page.session.project.root
    assert again.detector_page.strip.count() == 2


def test_removing_a_class_with_boxes_asks_and_counts(make_tab):
    tab = make_tab()
    tab.set_mode("detector")
    page = tab.detector_page
    page.add_class("spoon")
    page.capture()
    page.choose_class(1)
    _drag(page.canvas, (10, 10, 60, 60))
    assert not page.remove_class(1)  # not confirmed: refused, the box stays
    assert "1 box" in tab.context.last_error[1]
    assert page.remove_class(1, confirm_boxes=1)
    assert page.session.project.classes == ("object",) and page.strip.captions() == ["no boxes"]


def _import(qtbot, page, folder) -> tuple:
    """Start an import and wait for its end; (started, summary, pictures done)."""
    with qtbot.waitSignal(page.importer.ended, timeout=60000) as ended:
        started = page.import_yolo(str(folder))
    return (started, *ended.args)


def test_import_with_bad_labels_shows_the_summary_and_export(make_tab, qtbot, tmp_path):
    source = write_scenes(tmp_path / "scenes", count=4, seed=1)
    first_label = sorted((source / "labels").glob("*.txt"))[0]
    first_label.write_text(first_label.read_text() + "9 0.5 0.5 0.2 0.2\nbroken\n")
    tab = make_tab()
    tab.set_mode("detector")
    page = tab.detector_page
    started, summary, done = _import(qtbot, page, source)
    assert started and done == 4 and summary is not None
    assert page.import_summary.isVisible() and not page.importer.isVisible()
    text = page.import_summary.text()
    assert "Imported 4 picture(s)" in text and "1 class id beyond classes.txt" in text and "1 malformed line" in text
    assert page.strip.count() == 4
    assert page.classes.list.count() == 4  # "object" and the three scene classes
    assert page.capture_button.isEnabled()

    assert page.export_yolo(str(tmp_path / "out"))
    back = L.read_yolo_dataset(tmp_path / "out")
    assert len(back.images) == 4 and back.classes == page.session.project.classes
    started, summary, done = _import(qtbot, page, tmp_path / "nothing-here")  # one clear message, nothing fatal
    assert started and summary is None and done == 0
    assert "no such folder" in tab.context.last_error[1]
    assert page.strip.count() == 4 and page.capture_button.isEnabled()


def test_import_runs_off_the_gui_thread_read_only_and_can_be_cancelled(make_tab, qtbot, tmp_path):
    source = write_scenes(tmp_path / "scenes", count=40, seed=2, size=(160, 120))
    tab = make_tab()
    tab.set_mode("detector")
    page = tab.detector_page
    seen: list[tuple[int, int]] = []
    page.importer.runner.progress.connect(seen.append)
    # Cancel as soon as the third picture is in: the GUI thread is free to do it.
    page.importer.runner.progress.connect(lambda report: page.importer.cancel_button.click() if report[0] == 3 else None)
    with qtbot.waitSignal(page.importer.ended, timeout=60000) as ended:
        assert page.import_yolo(str(source))
        assert page.importer.isVisible() and not page.capture_button.isEnabled()  # read-only meanwhile
        assert not page.import_yolo(str(source))  # one import at a time
        assert page.handle_key(Qt.Key.Key_C, True) and page.strip.count() == 0  # C taken, nothing captured
    summary, done = ended.args
    assert summary is None and 3 <= done < 40 and seen[0][1] == 40
    kept = len(page.session.project.picture_ids())
    assert kept == done == page.strip.count()  # what arrived stays, each picture whole
    assert f"after {done} picture(s)" in page.import_summary.text()
    assert page.capture_button.isEnabled() and page.capture()


def test_capture_without_video_says_what_to_do(make_tab):
    tab = make_tab()
    tab.set_mode("detector")
    make_tab.feed["now"] = None
    assert not tab.detector_page.capture()
    assert "start a camera" in tab.context.last_status
    assert np.asarray(tab.detector_page.canvas.boxes).shape == (0, 4)
