"""The Segment tab offscreen with an instance model and the course views: Mask R-CNN says it
is not live, runs on the paused frame (busy bar, then the drawn picture instead of the feed,
equal to the engine's) or on a photo (an unreadable one refused), the score slider redraws
without a second run, Back to live returns to the feed; the decoder view shows the stages
at their resolutions; Grad-CAM tints the picture with its heat map and switches off."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QHBoxLayout, QWidget

from engine.core.frame import Frame
from engine.features.segment.catalog import PERSON
from engine.features.segment.instances import InstanceModel
from engine.models.catalog import catalog
from engine.runtime.sync import run_task
from gui.common.context import AppContext
from gui.common.video_view import VideoView
from gui.features.segment.tab import SegmentTab
from tests.segment.weights import photo_bgr

MASKRCNN = "maskrcnn_resnet50_fpn"
SHOTS = Path(__file__).resolve().parent / "screenshots"  # where a person looks at them (ignored by git)


def frame() -> Frame:
    return Frame(cv2.resize(photo_bgr("astronaut"), (400, 300)), 3, 0.0, "camera")


@pytest.fixture()
def tab(qtbot, tmp_path, segment_cache, maskrcnn_file):
    segment_cache.import_file(catalog().get(MASKRCNN), maskrcnn_file)
    view = VideoView()
    qtbot.addWidget(view)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    latest = frame()
    context = AppContext(settings, torch.device("cpu"), weights_cache=segment_cache, video_view=view,
                         latest_frame=lambda: latest)
    widget = SegmentTab(context)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def screenshot(tab: SegmentTab, picture: np.ndarray, name: str) -> Path:
    """The tab beside the video view showing ``picture``, grabbed offscreen."""
    window = QWidget()
    row = QHBoxLayout(window)
    view = tab.context.video_view
    row.addWidget(view, 3)
    row.addWidget(tab, 2)
    window.resize(1200, 820)
    window.show()
    view.show_image(picture, 0)
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / name
    assert window.grab().save(str(path))
    for widget in (view, tab):  # hand them back before the window goes
        widget.setParent(None)
    window.deleteLater()
    return path


def test_mask_rcnn_runs_on_the_paused_frame_not_live(qtbot, tab):
    with qtbot.waitSignal(tab.task_changed):
        tab.model_combo.setCurrentIndex(tab.model_combo.findData(MASKRCNN))
    assert tab.instance_box.isVisibleTo(tab) and not tab.classes_box.isVisibleTo(tab)
    assert not tab.course_box.isVisibleTo(tab) and not tab.mode_combo.isEnabled()
    assert "too slow for live" in tab.instance_box.note_label.text()
    # no live task: the status line says why and what to press
    assert tab.make_task() is None
    assert "too slow for live video" in tab.context.last_status and "Run on this frame" in tab.context.last_status
    tab.activated()
    view = tab.context.video_view
    tab.instance_box.side_combo.setCurrentIndex(tab.instance_box.side_combo.findData(320))
    tab.instance_box.score_slider.setValue(30)
    tab.instance_box.run_button.click()
    # busy while it runs; the paused frame is shown instead of the feed meanwhile
    assert tab.instance_box.busy_bar.isVisibleTo(tab) and not tab.instance_box.run_button.isEnabled()
    live = Frame(np.zeros((300, 400, 3), np.uint8), 4, 0.0, "camera")
    assert np.array_equal(tab.display_image(live), frame().image)
    qtbot.waitUntil(lambda: tab.controller.still is not None, timeout=60_000)
    assert not tab.instance_box.busy_bar.isVisibleTo(tab) and tab.instance_box.run_button.isEnabled()
    still = tab.controller.still
    assert still.source == "paused frame" and still.min_size == 320 and still.seconds > 0
    # what is shown is the engine's result drawn at the slider's threshold
    model = InstanceModel.from_file(catalog().get(MASKRCNN), tab.context.weights_cache.path(catalog().get(MASKRCNN)))
    model.set_min_size(320)
    expected = model.run(frame().image)
    assert np.array_equal(still.instances.boxes, expected.boxes) and np.array_equal(still.instances.masks, expected.masks)
    shown = tab.display_image(live)
    assert np.array_equal(shown, still.picture(0.30))
    # put on the view at once: a paused source sends no frame that would show it
    assert view.current_image() is shown
    kept = expected.above(0.30)
    assert len(kept) > 0 and f"{MASKRCNN} on the paused frame" in tab.instance_box.state_label.text()
    screenshot(tab, shown, "segment_instances.png")
    # the slider redraws without running again
    tab.instance_box.score_slider.setValue(90)
    assert not tab.jobs.is_running() and not np.array_equal(tab.display_image(live), shown)
    # Back to live: the feed again
    assert tab.instance_box.live_button.isEnabled()
    tab.instance_box.live_button.click()
    assert tab.display_image(live) is None and tab.controller.still is None
    assert np.array_equal(view.current_image(), frame().image)
    tab.deactivated()


def test_a_photo_runs_and_an_unreadable_one_is_refused(qtbot, tab, tmp_path):
    tab.model_combo.setCurrentIndex(tab.model_combo.findData(MASKRCNN))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    assert not tab.run_on_photo(str(bad))
    title, message = tab.context.last_error
    assert title == "Photo not opened" and "broken.jpg" in message and not tab.jobs.is_running()
    good = tmp_path / "street.png"
    cv2.imwrite(str(good), cv2.resize(photo_bgr("coffee"), (300, 200)))
    tab.instance_box.side_combo.setCurrentIndex(tab.instance_box.side_combo.findData(320))
    assert tab.run_on_photo(str(good))
    qtbot.waitUntil(lambda: tab.controller.still is not None, timeout=60_000)
    assert tab.controller.still.source == "photo street.png" and tab.controller.still.image.shape == (200, 300, 3)


def test_wrong_weights_for_the_architecture_are_one_message(qtbot, tab, lraspp_file):
    # a semantic file installed as Mask R-CNN's (e.g. renamed by hand): the job fails with the first bad key
    cache = tab.context.weights_cache
    path = cache.path(catalog().get(MASKRCNN))
    path.write_bytes(Path(lraspp_file).read_bytes())
    tab.model_combo.setCurrentIndex(tab.model_combo.findData(MASKRCNN))
    tab.run_on_frame()
    qtbot.waitUntil(lambda: not tab.instance_box.busy_bar.isVisibleTo(tab), timeout=60_000)
    title, message = tab.context.last_error
    assert title == f"{MASKRCNN} not run" and "backbone.body.conv1.weight" in message
    assert tab.controller.still is None


def test_the_decoder_view_and_grad_cam(qtbot, tab):
    f = Frame(cv2.resize(photo_bgr("astronaut"), (320, 240)), 0, 0.0, "photo")
    tab.size_combo.setCurrentIndex(tab.size_combo.findData(256))
    with qtbot.waitSignal(tab.settings_changed):
        tab.course_box.stages_check.setChecked(True)
    assert tab.task_settings().stages and tab.course_box.decoder_view.isVisibleTo(tab)
    task = tab.make_task()
    result = next(iter(run_task(task, [f], settings=tab.task_settings())))
    tab.on_result(result)
    view = tab.course_box.decoder_view
    assert [v.stage.name for v in view.views] == ["backbone high", "backbone low", "head logits",
                                                  "logits at the input", "logits at the frame"]
    captions = view.captions()
    assert captions[0].startswith("backbone high: 22x16, stride ≈16, 960 ch") and "→ bilinear" in captions[2]
    assert not any("transposed" in c for c in captions)
    tinted = cv2.cvtColor(f.image, cv2.COLOR_BGR2BGRA)
    tab.raster_overlay(tinted, 1.0, 320, 240)
    shot = screenshot(tab, np.ascontiguousarray(tinted[..., :3]), "segment_decoder.png")
    assert shot.exists()
    # Grad-CAM of the person region at the chosen layer, drawn instead of the class tint
    assert [tab.course_box.cam_layer_combo.itemData(i) for i in range(3)] == ["backbone.16", "backbone.15", "backbone.14"]
    tab.course_box.cam_layer_combo.setCurrentIndex(1)
    with qtbot.waitSignal(tab.settings_changed):
        tab.course_box.cam_check.setChecked(True)
    assert tab.task_settings().cam_class == PERSON and tab.task_settings().cam_layer == "backbone.15"
    result = next(iter(run_task(tab.make_task(), [f], settings=tab.task_settings())))
    tab.on_result(result)
    cam = result.result.cam
    assert cam.layer == "backbone.15" and cam.heat is not None
    canvas = cv2.cvtColor(f.image, cv2.COLOR_BGR2BGRA)
    tab.raster_overlay(canvas, 1.0, 320, 240)
    jet = cv2.applyColorMap(np.clip(cam.heat * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    assert np.array_equal(canvas[..., :3], cv2.addWeighted(f.image, 0.5, jet, 0.5, 0.0))  # the heat, not the class tint
    hot = np.unravel_index(np.argmax(cam.heat), cam.heat.shape)
    assert tuple(jet[hot]) == (0, 0, 128)  # the hottest pixel is jet's dark red
    with qtbot.waitSignal(tab.settings_changed):
        tab.course_box.cam_check.setChecked(False)
    assert tab.task_settings().cam_class is None
