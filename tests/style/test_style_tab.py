"""The Style tab, offscreen: inputs, photo mode end to end, cancel, settings in PNGs, live mode."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine.core.frame import Frame
from engine.features.style.adain import random_decoder_state, random_encoder_state
from engine.features.style.metadata import read_info
from engine.features.style.task import AdaINTask, FastStyleTask, PaletteTask
from engine.features.style.vgg import random_vgg19_state_dict
from engine.models.cache import WeightsCache
from engine.models.catalog import catalog
from engine.runtime.sync import run_task
from engine.runtime.worker import TaskResult, Timings
from gui.common.context import AppContext
from gui.common.settings import open_settings
from gui.features.style.tab import StyleTab


def _context(tmp_path: Path, latest=None) -> AppContext:
    return AppContext(open_settings(tmp_path / "settings.ini"), torch.device("cpu"),
                      weights_cache=WeightsCache(tmp_path / "models"), latest_frame=latest)


def _install(context: AppContext, tmp_path: Path, names=("vgg19", "adain-vgg", "adain-decoder")) -> None:
    states = {"vgg19": random_vgg19_state_dict(4), "adain-vgg": random_encoder_state(4), "adain-decoder": random_decoder_state(4)}
    for name in names:
        path = tmp_path / f"{name}.pth"
        torch.save(states[name], path)
        context.weights_cache.import_file(catalog().get(name), path, force=True)


@pytest.fixture
def files(tmp_path: Path, pictures) -> dict[str, Path]:
    paths = {"content": tmp_path / "photo.png", "style": tmp_path / "painting.png", "style2": tmp_path / "other.png",
             "gray": tmp_path / "gray.png", "text": tmp_path / "readme.txt"}
    cv2.imwrite(str(paths["content"]), pictures.content(48, 64))
    cv2.imwrite(str(paths["style"]), pictures.style(64, seed=1))
    cv2.imwrite(str(paths["style2"]), pictures.style(64, seed=9))
    cv2.imwrite(str(paths["gray"]), cv2.cvtColor(pictures.content(48, 64), cv2.COLOR_BGR2GRAY))
    paths["text"].write_text("not an image")
    return paths


@pytest.fixture
def tab(qtbot, tmp_path: Path) -> StyleTab:
    widget = StyleTab(_context(tmp_path))
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def test_without_weights_the_tab_says_what_is_missing(tab: StyleTab, files) -> None:
    assert tab.title == "Style"
    assert tab.banner_box.isVisibleTo(tab)
    text = tab.weights_banner.text()
    assert "vgg19" in text and "adain-vgg" in text and "only transfers the style's colours" in text
    assert tab.download_button.isVisibleTo(tab) and tab.import_button.isVisibleTo(tab)
    assert tab.set_content_file(str(files["content"])) and tab.set_style_file(str(files["style"]))
    assert not tab.start_photo()
    assert tab.context.last_error[0] == "VGG-19 weights needed"
    tab.modes.setCurrentIndex(1)
    task = tab.make_task()
    assert isinstance(task, PaletteTask)
    assert "Colour transfer only (no network)" in tab.live_label.text()


def test_palette_fallback_photo_is_labelled(qtbot, tab: StyleTab, files) -> None:
    tab.set_content_file(str(files["content"]))
    tab.set_style_file(str(files["style"]))
    tab.method_combo.setCurrentIndex(tab.method_combo.findData("palette"))
    tab.size_spin.setValue(64)
    with qtbot.waitSignal(tab.photo_finished, timeout=10000):
        assert tab.start_photo()
    assert tab.result_image.shape == (48, 64, 3)
    assert "colour transfer only" in tab.context.last_status


def test_bad_and_converted_inputs(tab: StyleTab, files) -> None:
    assert not tab.set_content_file(str(files["text"]))
    title, message = tab.context.last_error
    assert title == "Cannot use this content image" and "readme.txt" in message
    assert tab.set_content_file(str(files["gray"]))
    assert tab.content_image.shape == (48, 64, 3)
    assert "grayscale" in tab.notice_label.text()
    assert not tab.freeze_frame()
    assert "No camera frame" in tab.context.last_status


def test_drop_a_file_and_freeze_a_frame(qtbot, tmp_path: Path, files, pictures) -> None:
    frame = Frame(pictures.content(60, 80), 7, time.monotonic(), "demo")
    widget = StyleTab(_context(tmp_path, latest=lambda: frame))
    qtbot.addWidget(widget)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(files["style"]))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    widget.style_well.dropEvent(event)
    assert widget.styles and widget.styles[0].name == "painting.png"
    assert widget.gallery.paths()[0] == str(files["style"].resolve()), "a used style goes to the front of the gallery"
    presets = widget.gallery.presets()
    assert len(presets) >= 3 and set(presets) <= set(widget.gallery.paths())
    widget.set_style_file(presets[0])
    assert widget.gallery.recent == [str(files["style"].resolve())], "presets are always listed, never duplicated"
    assert widget.freeze_frame()
    assert widget.content_image.shape == (60, 80, 3) and "frame 7" in widget.content_name
    assert not np.shares_memory(widget.content_image, frame.image), "the frozen frame is the tab's own copy"
    widget.shutdown()
    # the recent styles survive a restart
    again = StyleTab(_context(tmp_path))
    qtbot.addWidget(again)
    assert str(files["style"].resolve()) in again.gallery.recent
    again.shutdown()


def test_photo_mode_end_to_end(qtbot, tmp_path: Path, files) -> None:
    context = _context(tmp_path)
    _install(context, tmp_path)
    tab = StyleTab(context)
    qtbot.addWidget(tab)
    assert not tab.banner_box.isVisibleTo(tab)
    tab.set_content_file(str(files["content"]))
    tab.set_style_file(str(files["style"]))
    tab.set_style_file(str(files["style2"]), add=True)
    tab.set_blend_weight(1, 0.5)
    assert [s.weight for s in tab.styles] == [1.0, 0.5]
    tab.size_spin.setValue(64)
    tab.steps_spin.setValue(12)
    tab.optimizer_combo.setCurrentIndex(tab.optimizer_combo.findData("adam"))
    tab.colour_combo.setCurrentIndex(tab.colour_combo.findData("luminance"))
    tab.seed_spin.setValue(11)
    with qtbot.waitSignal(tab.photo_finished, timeout=120000):
        assert tab.start_photo()
        assert tab.cancel_button.isEnabled()
    assert tab.context.last_error is None, tab.context.last_error
    assert tab.progress_bar.value() == 100
    assert len(tab.loss_plot.steps) == 12 and tab.loss_plot.steps[-1] == 12
    assert not tab.preview_label.pixmap().isNull()
    assert tab.result_image.shape == (48, 64, 3)
    frame = Frame(np.zeros((10, 10, 3), np.uint8), 0, 0.0)
    assert tab.display_image(frame) is tab.preview_image, "the main view shows the result in photo mode"
    tab.show_in_view_check.setChecked(False)
    assert tab.display_image(frame) is None, "unticked: the camera shows, e.g. to freeze another frame"

    saved = tab.save_result(str(tmp_path / "result.png"))
    info = read_info(saved)
    assert info["method"] == "gatys" and info["settings"]["steps"] == 12 and info["settings"]["seed"] == 11
    assert info["styles"] == [["painting.png", 1.0], ["other.png", 0.5]]
    assert info["losses"]["total"] > 0

    tab.steps_spin.setValue(300)
    tab.seed_spin.setValue(0)
    tab.colour_combo.setCurrentIndex(0)
    assert tab.load_settings_from(str(saved))
    assert tab.steps_spin.value() == 12 and tab.seed_spin.value() == 11
    assert tab.colour_combo.currentData() == "luminance" and tab.optimizer_combo.currentData() == "adam"
    assert not tab.load_settings_from(str(files["content"]))
    assert "has no CNN Studio style settings" in tab.context.last_error[1]
    tab.shutdown()


def test_cancel_stops_the_photo_job(qtbot, tmp_path: Path, files) -> None:
    context = _context(tmp_path)
    _install(context, tmp_path, names=("vgg19",))
    tab = StyleTab(context)
    qtbot.addWidget(tab)
    tab.set_content_file(str(files["content"]))
    tab.set_style_file(str(files["style"]))
    tab.size_spin.setValue(64)
    tab.steps_spin.setValue(2000)
    with qtbot.waitSignal(tab.runner.progress, timeout=60000):
        tab.start_photo()
    with qtbot.waitSignal(tab.runner.cancelled, timeout=30000):
        tab.cancel_button.click()
    assert tab.eta_label.text() == "cancelled"
    assert len(tab.loss_plot.steps) < 2000
    assert tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()
    assert tab.runner.wait(5)
    tab.shutdown()


def _run_task(task, frame):
    return next(run_task(task, [frame], device="cpu", load=False)).result


def test_live_mode_settings_snapshots_and_style_switch(qtbot, tmp_path: Path, files, pictures) -> None:
    context = _context(tmp_path)
    _install(context, tmp_path, names=("adain-vgg", "adain-decoder"))
    tab = StyleTab(context)
    qtbot.addWidget(tab)
    tab.set_style_file(str(files["style"]))
    assert tab.make_task() is None, "photo mode runs nothing on the live feed"
    assert tab.task_settings() is None
    with qtbot.waitSignal(tab.task_changed, timeout=2000):
        tab.modes.setCurrentIndex(1)
    assert tab.model_combo.currentData() == "adain", "without fast styles, AdaIN is the default live model"
    task = tab.make_task()
    assert isinstance(task, AdaINTask)
    task.load(torch.device("cpu"))
    with qtbot.waitSignal(tab.settings_changed, timeout=2000):
        tab.alpha_slider.setValue(40)
    tab.live_colour_check.setChecked(True)
    tab.stabilise_check.setChecked(True)
    snapshot = tab.task_settings()
    assert snapshot.strength == pytest.approx(0.4) and snapshot.preserve_color and snapshot.stabilise
    task.configure(snapshot)  # what the worker does between frames

    frame = Frame(pictures.content(48, 64), 0, time.monotonic(), "demo")
    out = _run_task(task, frame)
    tab.on_result(TaskResult(task.name, frame, out, Timings(0, 0, 0, 0, 0, 0), settings=snapshot))
    shown = tab.display_image(frame)
    assert shown is out.image and shown.shape == frame.image.shape
    assert np.abs(shown.astype(int) - frame.image.astype(int)).mean() > 3, "the shown result is stylised, not the content"

    changes = []
    tab.task_changed.connect(lambda: changes.append(1))
    with qtbot.waitSignal(tab.settings_changed, timeout=2000):
        tab.set_style_file(str(files["style2"]))
    assert changes == [], "switching styles does not restart the worker"
    task.configure(tab.task_settings())
    assert task.style_name == "other.png"
    tab.shutdown()


def _fast_file(path: Path, seed: int = 2) -> Path:
    from engine.features.style.transformer_net import random_state

    torch.save(random_state(seed), path)
    return path


def test_fast_preset_imported_by_content_runs_live(qtbot, tmp_path: Path, pictures) -> None:
    context = _context(tmp_path)
    tab = StyleTab(context)
    qtbot.addWidget(tab)
    path = _fast_file(tmp_path / "weights.bin")
    assert not tab.import_weights(str(path)), "four presets share the layout: the tab asks which one"
    assert "fits fast-candy, fast-mosaic" in tab.context.last_error[1]
    assert not tab.import_weights(str(tmp_path / "nothing.pth"))
    assert tab.import_weights(str(path), "fast-mosaic")
    tab.modes.setCurrentIndex(1)
    assert tab.model_combo.currentData() == "fast-mosaic", "an installed fast style becomes the live default"
    task = tab.make_task()
    assert isinstance(task, FastStyleTask) and "Mosaic" in tab.live_label.text()
    task.load(torch.device("cpu"))
    image = pictures.content(96, 128)
    for i in range(3):
        frame = Frame(image, i, time.monotonic(), "demo")
        out = _run_task(task, frame)
        tab.on_result(TaskResult(task.name, frame, out, Timings(0, 0, 0, 0, 0, 0)))
    assert out.method == "fast" and out.image.shape == image.shape
    assert np.abs(tab.display_image(frame).astype(int) - image.astype(int)).mean() > 3
    assert "fps" in tab.fps_label.text() and "128x96" in tab.fps_label.text()
    with qtbot.waitSignal(tab.task_changed, timeout=2000):
        tab.model_combo.setCurrentIndex(tab.model_combo.findData("palette"))
    assert isinstance(tab.make_task(), PaletteTask)
    tab.shutdown()


def test_training_in_the_tab_saves_a_user_style(qtbot, tmp_path: Path, files, pictures) -> None:
    from engine.features.style.vgg16 import random_state

    context = _context(tmp_path)
    weights = context.weights_cache.path(catalog().get("vgg16"))
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_state(0), weights)  # only the convs up to relu4_3 are read
    tab = StyleTab(context)
    qtbot.addWidget(tab)
    tab.set_style_file(str(files["style"]))
    page = tab.train_page
    empty = tmp_path / "empty"
    empty.mkdir()
    page.folder_edit.setText(str(empty))
    page.title_edit.setText("Strokes")
    assert not tab.start_training()
    assert "holds no images" in tab.context.last_error[1]
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), pictures.content(40, 56))
    page.folder_edit.setText(str(photos))
    page.train_steps_spin.setValue(2)
    page.train_size_spin.setValue(32)
    with qtbot.waitSignal(tab.training_finished, timeout=120000):
        assert tab.start_training()
    assert "my-strokes" in tab.context.last_status, tab.context.last_error
    assert "about" in page.estimate_label.text() or "Saved" in page.estimate_label.text()
    assert tab.model_combo.findData("my-strokes") >= 0
    tab.shutdown()


def test_the_live_speed_is_the_status_bars_number(qtbot, tmp_path: Path, pictures) -> None:
    """In the app the Style page shows the worker's results/s (the status bar's), not a count
    of the results that reached the GUI over another window."""
    from engine.features.style.task import LiveStyleResult

    context = AppContext(open_settings(tmp_path / "settings.ini"), torch.device("cpu"),
                         weights_cache=WeightsCache(tmp_path / "models"), inference_fps=lambda: 7.5)
    tab = StyleTab(context)
    qtbot.addWidget(tab)
    image = pictures.content(96, 128)
    for i in range(4):  # arriving back to back: a GUI-side count would say hundreds of fps
        frame = Frame(image, i, time.monotonic(), "demo")
        out = LiveStyleResult(image, "palette", "painting", 1.0, process_size=(128, 96))
        tab.on_result(TaskResult("style", frame, out, Timings(0, 0, 0, 0, 0, 0)))
    assert tab.fps_label.text().startswith("7.5 fps")
    tab.shutdown()
