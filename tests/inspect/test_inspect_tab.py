"""The Feature maps tab offscreen, fed by a real InspectTask (no main window)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QPainter
from PySide6.QtWidgets import QApplication

from engine.runtime.worker import TaskResult, Timings
from gui.common.context import AppContext
from gui.features.inspect.conv_explainer import ConvolutionExplainer, cross_correlate, make_kernel, output_size
from gui.features.inspect.tab import InspectTab


@pytest.fixture
def context(tmp_path):
    from PySide6.QtCore import QSettings

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return AppContext(settings, torch.device("cpu"))


@pytest.fixture
def tab(qtbot, context):
    widget = InspectTab(context)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def _feed(tab, task, frame):
    """Run one frame through the tab's task as the worker would (newest settings snapshot
    applied first) and deliver the result."""
    task.configure(tab.task_settings())
    mode = torch.enable_grad() if task.needs_grad else torch.inference_mode()
    with mode:
        result = task.postprocess(task.infer(task.preprocess(frame)), frame)
    tab.on_result(TaskResult(task.name, frame, result, Timings(0, 0, 0, 0, 0, 0)))
    return result


def _start(tab, name="resnet18", size=96):
    tab.set_model(name, "untrained")
    task = tab.make_task()
    task.input_size = size
    task.load(torch.device("cpu"))
    return task


def test_lists_the_zoo_and_runs_offline_with_untrained_weights(tab, make_frame):
    names = [tab.model_combo.itemData(i) for i in range(tab.model_combo.count())]
    assert "resnet18" in names and "lenet5" in names and "efficientnet_b0" in names
    # Catalogued weights are not installed here: the tab says so and runs untrained.
    tab.set_model("resnet18", "trained")
    assert "not installed" in tab.weights_label.text()
    task = tab.make_task()
    assert task.untrained
    task.input_size = 96
    task.load(torch.device("cpu"))
    _feed(tab, task, make_frame())
    assert "untrained" in tab.predictions_label.text() and tab.predictions_label.text().startswith("Top-5")
    assert tab.layer_tree.topLevelItemCount() == len([r for r in tab.result.table.rows if r.depth == 0])
    assert "11,689,512" in tab.totals_label.text()


def test_layer_choice_grid_click_and_receptive_field_overlay(qtbot, tab, make_frame):
    task = _start(tab)
    frame = make_frame()
    _feed(tab, task, frame)
    tab.choose_layer("layer2")
    assert tab.task_settings().layer == "layer2"
    _feed(tab, task, frame)
    assert task.settings.layer == "layer2" and tab.result.layer == "layer2"
    assert tab.grid.channels and len(tab.grid.channels) == 16
    # Click the third tile: that channel is enlarged on the next frame.
    centre = tab.grid.tile_rect(2).center().toPoint()
    tab.pages.setCurrentIndex(0)
    qtbot.mouseClick(tab.grid, Qt.MouseButton.LeftButton, pos=centre)
    channel = tab.grid.channels[2]
    assert tab.task_settings().pinned_channel == channel
    _feed(tab, task, frame)
    assert tab.result.pinned.shape == (12, 12)
    # Hover the unit at (row 0, col 11) of the enlarged map: top-right corner of the frame.
    rect = tab.zoom.map_rect()
    point = QPointF(rect.left() + rect.width() * (11.5 / 12), rect.top() + rect.height() * (0.5 / 12))
    move = QMouseEvent(QEvent.Type.MouseMove, point, tab.zoom.mapToGlobal(point), Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(tab.zoom, move)
    assert tab.unit == (0, 11)
    x1, y1, x2, y2 = tab.unit_box
    # layer2: field 99, jump 8, padding 49 (96 px input, frame 160 x 120):
    # column 11 sees input x [11*8 - 49, ...] = [39, 96) clipped; row 0 sees y [0, 50).
    assert (x1, x2) == pytest.approx((39 * 160 / 96, 160.0))
    assert (y1, y2) == pytest.approx((0.0, 50 * 120 / 96))
    image = QImage(160, 120, QImage.Format.Format_RGB888)
    image.fill(0)
    painter = QPainter(image)
    tab.paint_overlay(painter, 160, 120)
    painter.end()
    edge = max((image.pixelColor(round(x1) + dx, int((y1 + y2) / 2)) for dx in (-1, 0, 1)), key=lambda c: c.red())
    assert edge.red() > 200 and edge.green() < 100  # the red outline of the field
    assert image.pixelColor(10, 60).red() == 0  # nothing painted far away from it
    tab.clear_unit()
    assert tab.unit_box is None


def test_saliency_overlay_follows_the_opacity_slider(tab, make_frame):
    task = _start(tab, size=64)
    tab.set_mode("gradcam")
    assert tab.task_settings().mode == "gradcam"
    combo = tab.saliency_page.class_combo
    combo.setEditText("Tabby")  # a class name, as the CLI takes it (case-insensitive)
    combo.lineEdit().returnPressed.emit()
    assert tab.task_settings().target_class == 281 and combo.currentData() == 281
    combo.setEditText("no such animal")
    combo.lineEdit().returnPressed.emit()
    assert tab.task_settings().target_class == 281 and "unknown class" in tab.saliency_page.label.text()
    _feed(tab, task, make_frame())
    assert task.needs_grad
    assert "281" in tab.saliency_page.label.text() and "Grad-CAM" in tab.saliency_page.label.text()

    def painted(opacity):
        tab.saliency_page.opacity_slider.setValue(opacity)
        image = QImage(160, 120, QImage.Format.Format_RGB888)
        image.fill(0)
        painter = QPainter(image)
        tab.paint_overlay(painter, 160, 120)
        painter.end()
        # Rows below the "untrained weights" plate at the top right.
        return sum(image.pixelColor(x, y).blue() + image.pixelColor(x, y).red() for x in range(0, 160, 8) for y in range(24, 120, 8))

    assert painted(0) == 0 < painted(40) < painted(100)
    tab.set_mode("activations")
    _feed(tab, task, make_frame())
    assert not task.needs_grad and painted(100) == 0


def _badge_pixels(tab) -> int:
    """How many pixels of the overlay painted on a 320x240 black frame are the badge's blue."""
    from PySide6.QtGui import QImage, QPainter

    from gui.features.inspect.overlay import FROZEN_BADGE_COLOUR

    image = QImage(320, 240, QImage.Format.Format_RGB32)
    image.fill(0)
    painter = QPainter(image)
    tab.paint_overlay(painter, 320, 240)
    painter.end()
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(240, 320, 4)
    blue = (FROZEN_BADGE_COLOUR.blue(), FROZEN_BADGE_COLOUR.green(), FROZEN_BADGE_COLOUR.red())
    return int(np.all(pixels[:, :, :3] == blue, axis=2).sum())


def test_freeze_frame_keeps_analysing_the_same_picture(tab, context, make_frame, frame_image):
    task = _start(tab, size=64)
    live = make_frame(np.zeros_like(frame_image))
    context._latest_frame = lambda: make_frame(frame_image)
    tab.freeze_button.setChecked(True)
    assert tab.frozen and tab.task_settings().frozen_image is not None
    assert np.array_equal(tab.display_image(live), frame_image)
    frozen_result = _feed(tab, task, live)
    assert tab.freeze_button.text() == "Frozen: back to live (F)" and tab.freeze_button.styleSheet()
    assert _badge_pixels(tab) > 200  # a frozen frame does not look live
    tab.freeze_button.setChecked(False)
    assert tab.freeze_button.text() == "Freeze frame" and not tab.freeze_button.styleSheet()
    assert _badge_pixels(tab) == 0
    assert tab.display_image(live) is None and tab.task_settings().frozen_image is None
    live_result = _feed(tab, task, live)
    assert not np.allclose(frozen_result.channels.means, live_result.channels.means)


def test_filters_page_shows_first_layer_rgb_and_deeper_slices(tab, make_frame):
    task = _start(tab, size=64)
    _feed(tab, task, make_frame())
    _feed(tab, task, make_frame())
    tiles = tab.filters_page.tiles
    assert tiles.count == 64 and "RGB" in tiles.caption
    tab.choose_layer("layer1.0.conv1")
    _feed(tab, task, make_frame())
    assert "first input-channel slice" in tiles.caption
    tab.filters_page.kernel_spin.setValue(3)
    assert tiles.count == 64 and "kernel 3" in tiles.caption


def test_a_weights_file_that_fails_keeps_the_previous_weights_running_and_says_so(tab, random_weights_file, make_frame):
    path, _ = random_weights_file("lenet5")
    task = _start(tab, size=64)  # untrained resnet18 runs
    _feed(tab, task, make_frame())
    tab.set_weights_file(path)
    assert tab.weights_choice == "file"
    task = tab.make_task()
    assert str(task.weights) == str(path)
    task.input_size = 64
    task.load(torch.device("cpu"))  # does not raise: the previous weights are loaded instead
    _feed(tab, task, make_frame())
    notice = tab.notice_label.text()
    assert "does not fit resnet18" in notice and "missing key 'conv1.weight'" in notice and "kept the previous weights" in notice
    assert tab.weights_choice == "untrained" and tab.weights_combo.currentData() == "untrained"
    assert tab.result is not None and not tab.result.trained and tab.result.channels is not None


def test_unit_grid_fills_while_collecting_and_shows_a_units_patches(qtbot, tab, make_frame, frame_image):
    task = _start(tab, size=64)
    _feed(tab, task, make_frame())  # the layer table arrives
    tab.choose_layer("layer1.0.conv1")
    tab.pages.setCurrentWidget(tab.units_page)
    tab.units_page.collect_button.setChecked(True)
    assert tab.task_settings().collect
    for i in range(5):
        _feed(tab, task, make_frame(np.roll(frame_image, 30 * i, axis=1), index=i))
    grid = tab.units_page.grid
    assert grid.count == 64 and tab.controller.collection.layer == "layer1.0.conv1"
    assert "from 5 images" in tab.units_page.status.text()
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.tile_rect(7).center().toPoint())
    assert tab.task_settings().pinned_channel == 7
    _feed(tab, task, make_frame(index=9))
    patches = tab.units_page.patches
    assert 1 <= patches.count <= 9 and "layer1.0.conv1[7]" in patches.caption
    live = tab.units_page.live_map
    assert live.caption == "channel 7 live" and live._shape == (16, 16)  # the unit's map on the current frame
    assert tab.units_page.filter.count == 64 and "channel 7" in tab.units_page.filter.caption  # one slice per input channel


def test_feature_visualisation_runs_as_a_job_with_preview(qtbot, tab):
    tab.set_model("resnet18", "untrained")
    tab.controller.settings = tab.controller.settings.__class__(layer="layer1")
    page = tab.visualise_page
    page.steps_spin.setValue(8)
    page.size_spin.setValue(32)
    page.index_spin.setValue(3)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: page.start_button.isEnabled(), timeout=60000)
    assert page.image is not None and page.image.shape == (32, 32, 3) and page.progress.value() == 8
    assert "Done" in page.caption.text() or "step 8 of 8" in page.caption.text()


def test_convolution_explained_matches_torch(qtbot):
    panel = ConvolutionExplainer()
    qtbot.addWidget(panel)
    panel.n_spin.setValue(7)
    panel.f_spin.setValue(3)
    panel.p_spin.setValue(1)
    panel.s_spin.setValue(2)
    assert panel.output.shape == (4, 4) and "= <b>4</b>" in panel.formula.text()
    for kind in ("vertical edge", "sharpen", "box blur"):
        patch = np.random.default_rng(0).random((9, 9)).astype(np.float32)
        kernel = make_kernel(kind, 3)
        ours = cross_correlate(patch, kernel, padding=2, stride=3)
        theirs = torch.nn.functional.conv2d(torch.from_numpy(patch)[None, None], torch.from_numpy(kernel)[None, None], padding=2, stride=3)[0, 0]
        assert np.allclose(ours, theirs.numpy(), atol=1e-5)
    assert output_size(5, 7, 0, 1) == 0
    panel.n_spin.setValue(3)
    panel.f_spin.setValue(7)
    panel.p_spin.setValue(0)
    assert panel.output.size == 0 and "larger than the padded" in panel.formula.text()


def test_settings_persist(qtbot, context, tab):
    tab.set_model("lenet5", "untrained")
    tab.channels_page.colormap_combo.setCurrentText("magma")
    tab.shutdown()
    again = InspectTab(context)
    qtbot.addWidget(again)
    assert again.model_name == "lenet5" and again.weights_choice == "untrained"
    assert again.channels_page.colormap_combo.currentText() == "magma"


def test_clicking_the_video_outlines_the_unit_looking_there(tab, make_frame):
    task = _start(tab)
    tab.choose_layer("layer3")
    _feed(tab, task, make_frame())
    tab.select_unit_at(150.0, 110.0)  # bottom-right corner of the 160 x 120 frame
    assert tab.unit == (5, 5) and tab.task_settings().pinned_channel == int(tab.result.channels.channels[0])
    x1, y1, x2, y2 = tab.unit_box
    assert x1 < 150 < x2 and y1 < 110 < y2


def test_a_folder_collection_counts_the_folders_images_not_the_live_frames(tab, qtbot, make_frame, tmp_path):
    import cv2

    task = _start(tab, "lenet5", 32)
    tab.choose_layer("features.3")
    tab.units_page.collect_button.setChecked(True)  # live collecting on, as a user would leave it
    rng = np.random.default_rng(3)
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"{i}.png"), rng.integers(0, 255, (48, 48, 3), np.uint8))
    for i in range(3):
        _feed(tab, task, make_frame(index=i))
    with qtbot.waitSignal(tab.extras.jobs.finished, timeout=60000):
        tab.extras.collect_folder(str(tmp_path))
    for i in range(3, 20):  # the live feed goes on after the folder is collected
        _feed(tab, task, make_frame(index=i))
    tab.units_page.show_collection(tab.controller.collection)
    assert tab.controller.collection.images_seen == 6
    assert "from 6 images" in tab.units_page.status.text()
    assert not tab.units_page.collect_button.isChecked() and not tab.task_settings().collect
    task.close()
