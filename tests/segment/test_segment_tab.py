"""The Segment tab offscreen: the live task's result tinted into the picture with the
legend's colours, opacity and class toggles honoured, per-class areas in the legend, the
pointer over a real VideoView reads the class and probability, person mode shows the
composed frame, an unreadable background picture is refused, missing weights say how to
install them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from engine.core.frame import Frame
from engine.features.segment.catalog import VOC_CLASSES
from engine.features.segment.render import palette_bgr
from engine.models.cache import WeightsCache
from engine.runtime.sync import run_task
from gui.common.context import AppContext
from gui.common.video_view import VideoView
from gui.features.segment.tab import SegmentTab
from tests.segment.weights import photo_bgr


@pytest.fixture()
def view(qtbot):
    widget = VideoView()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture()
def tab(qtbot, tmp_path, segment_cache, view):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    context = AppContext(settings, torch.device("cpu"), weights_cache=segment_cache, video_view=view)
    widget = SegmentTab(context)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def frame() -> Frame:
    return Frame(cv2.resize(photo_bgr("astronaut"), (320, 240)), 0, 0.0, "photo")


def feed(tab: SegmentTab, f: Frame):
    task = tab.make_task()
    assert task is not None
    result = next(iter(run_task(task, [f], settings=tab.task_settings())))
    tab.on_result(result)
    return result


def test_the_overlay_legend_opacity_and_toggles(tab):
    f = frame()
    seg = feed(tab, f).result.segmentation
    assert seg.labels.shape == (240, 320)
    present = [i for i in range(1, 21) if seg.areas[i] > 0]
    assert len(present) >= 3
    # the legend shows the share of every present class
    for class_id in present:
        assert f"{seg.areas[class_id] / seg.labels.size:.1%}" in tab.legend.item_for(class_id).text()
    # opacity 100 %: visible classes are painted in their legend colour, background untouched
    tab.opacity_slider.setValue(100)
    canvas = cv2.cvtColor(f.image, cv2.COLOR_BGR2BGRA)
    tab.raster_overlay(canvas, 1.0, 320, 240)
    colours = palette_bgr(21)
    for class_id in present[:3]:
        assert (canvas[seg.labels == class_id][:, :3] == colours[class_id]).all()
    assert (canvas[seg.labels == 0][:, :3] == f.image[seg.labels == 0]).all()
    # a class switched off in the legend is not drawn
    hidden = present[0]
    tab.legend.item_for(hidden).setCheckState(Qt.CheckState.Unchecked)
    assert hidden not in tab.controller.visible_classes()
    canvas = cv2.cvtColor(f.image, cv2.COLOR_BGR2BGRA)
    tab.raster_overlay(canvas, 1.0, 320, 240)
    assert (canvas[seg.labels == hidden][:, :3] == f.image[seg.labels == hidden]).all()
    # opacity 0: nothing changes; a scaled canvas is tinted too
    tab.opacity_slider.setValue(0)
    canvas = cv2.cvtColor(f.image, cv2.COLOR_BGR2BGRA)
    tab.raster_overlay(canvas, 1.0, 320, 240)
    assert (canvas[:, :, :3] == f.image).all()
    tab.opacity_slider.setValue(50)
    big = cv2.cvtColor(cv2.resize(f.image, (640, 480)), cv2.COLOR_BGR2BGRA)
    before = big.copy()
    tab.raster_overlay(big, 2.0, 320, 240)
    assert (big != before).any()


def test_the_pointer_over_the_video_reads_class_and_probability(qtbot, tab, view):
    f = frame()
    seg = feed(tab, f).result.segmentation
    view.resize(320, 240)
    view.show()
    view.show_image(f.image, 0)
    qtbot.waitExposed(view)
    tab.activated()
    target = view.frame_to_widget().map(QPoint(200, 100))
    QTest.mouseMove(view, target)
    qtbot.waitUntil(lambda: tab.probe is not None, timeout=3000)
    x, y = tab.probe.x, tab.probe.y
    assert abs(x - 200) <= 2 and abs(y - 100) <= 2
    name = VOC_CLASSES[seg.labels[y, x]]
    assert tab.probe.name == name and tab.probe.probability == pytest.approx(float(seg.probability[y, x]))
    assert name in tab.hover_label.text() and "%" in tab.hover_label.text()
    tab.deactivated()
    assert tab.probe is None


def test_person_mode_shows_the_composed_frame(qtbot, tab, tmp_path):
    with qtbot.waitSignal(tab.settings_changed):
        tab.mode_combo.setCurrentIndex(tab.mode_combo.findData("person"))
    assert tab.person_box.isVisibleTo(tab) and not tab.classes_box.isVisibleTo(tab)
    tab.use_colour((255, 0, 0))
    f = frame()
    result = feed(tab, f).result
    assert tab.task_settings().background.kind == "colour"
    shown = tab.display_image(f)
    assert shown is result.image and shown.shape == f.image.shape
    # an unreadable picture is refused with a message; the colour background stays
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    assert not tab.use_picture(str(bad))
    title, message = tab.context.last_error
    assert title == "Background picture not used" and "broken.jpg" in message
    assert tab.task_settings().background.kind == "colour"
    good = tmp_path / "beach.png"
    cv2.imwrite(str(good), np.full((60, 80, 3), 200, np.uint8))
    with qtbot.waitSignal(tab.settings_changed):
        assert tab.use_picture(str(good))
    assert tab.task_settings().background.image == str(good)


def test_without_weights_the_tab_says_how_to_install(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    context = AppContext(settings, torch.device("cpu"), weights_cache=WeightsCache(tmp_path / "empty"))
    tab = SegmentTab(context)
    qtbot.addWidget(tab)
    assert tab.make_task() is None
    # The app's way to install it (the model manager), not the command line's.
    assert "lraspp_mobilenet_v3_large is not installed" in context.last_status
    assert "Model manager" in context.last_status and "python main.py" not in context.last_status
    with qtbot.waitSignal(tab.task_changed):
        tab.model_combo.setCurrentIndex(tab.model_combo.findData("fcn_resnet50"))
    assert tab.controller.model_name == "fcn_resnet50" and "FCN" in tab.info_label.text()
    tab.shutdown()
