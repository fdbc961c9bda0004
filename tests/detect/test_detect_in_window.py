"""The Detect tab in the real main window: weights installed while the app runs."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtTest import QTest

from engine.models.catalog import catalog


def test_weights_installed_elsewhere_start_detection_after_models_changed(qtbot, tmp_path, monkeypatch, darknet_weights):
    """An install outside the tab (the model manager, a script) reaches the tab through
    ``MainWindow.models_changed``: its "not installed" banner goes and results arrive."""
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    from gui.features.detect.tab import DetectTab
    from gui.shell.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, torch.device("cpu"), source="demo")
    qtbot.addWidget(window)
    try:
        detect = next(t for t in window.tabs if isinstance(t, DetectTab))
        window.tab_widget.setCurrentIndex(window.tabs.index(detect))
        window.show()
        entry = detect.entry
        assert entry is catalog().get("yolov4-tiny")  # the default model
        assert not detect.is_installed() and window.pipeline.task is None
        _, weights = darknet_weights("yolov4-tiny")
        window.context.weights_cache.import_file(entry, weights)
        assert not detect._installed  # nothing told the tab yet
        results = []
        window.pipeline.result_ready.connect(results.append)
        window.models_changed()
        assert detect._installed
        qtbot.waitUntil(lambda: bool(results) and detect.detections is not None, timeout=60000)
        assert results[-1].task == window.pipeline.task.name
    finally:
        window.shutdown()


def write_video(path, frames: int = 40, size=(320, 240), fps: float = 10.0):
    """A short MJPG video of synthetic street-like pictures (the generated weights find boxes in them)."""
    import cv2

    from engine.features.detect.backends.darknet.random_weights import synthetic_image

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        writer.write(synthetic_image(size[1], size[0], seed=7 + (i // 20)))
    writer.release()
    return path


@pytest.fixture()
def detect_window(qtbot, tmp_path, monkeypatch, darknet_weights):
    """``open(source) -> (window, detect tab)``: the main window on ``source`` with the Detect
    tab shown and generated yolov4-tiny weights installed."""
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    from gui.features.detect.tab import DetectTab
    from gui.shell.main_window import MainWindow

    windows = []

    def open_window(source: str):
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings, torch.device("cpu"), source=source)
        qtbot.addWidget(window)
        windows.append(window)
        detect = next(t for t in window.tabs if isinstance(t, DetectTab))
        window.tab_widget.setCurrentIndex(window.tabs.index(detect))
        window.show()
        _, weights = darknet_weights("yolov4-tiny")
        window.context.weights_cache.import_file(detect.entry, weights)
        window.models_changed()
        return window, detect

    yield open_window
    for window in windows:
        window.shutdown()


@pytest.mark.parametrize("tracking", [False, True])
def test_a_click_on_a_stopped_video_explains_the_box_under_it(qtbot, tmp_path, detect_window, tracking):
    window, detect = detect_window(str(write_video(tmp_path / "street.avi")))
    detect.settings_box.grid_check.setChecked(True)
    detect.settings_box.track_check.setChecked(tracking)
    qtbot.waitUntil(lambda: detect.detections is not None and len(detect.detections) >= 3, timeout=60000)
    window.toggle_running()  # Space: stop
    qtbot.waitUntil(lambda: not window.pipeline.running, timeout=5000)
    qtbot.wait(300)  # results still on their way arrive now
    d = detect.detections
    row = len(d) - 1
    x1, y1, x2, y2 = d.boxes[row].tolist()
    point = window.view.frame_to_widget().map(QPointF((x1 + x2) / 2, (y1 + y2) / 2)).toPoint()
    QTest.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=point)
    chosen = detect.selected
    assert chosen is not None
    label = f"{d.labels[chosen]} {d.scores[chosen]:.2f}: "
    qtbot.waitUntil(lambda: detect.settings_box.grid_label.text().startswith(label), timeout=3000)


def test_at_the_default_window_size_draw_line_needs_no_scrolling(qtbot, tmp_path, detect_window):
    """Issue 27, item 11: the counting tools are in sight; the 80-row class list is folded away."""
    window, detect = detect_window("demo")
    assert (window.width(), window.height()) == (1280, 800)
    qtbot.waitExposed(window)
    viewport = detect.panel_scroll.viewport()
    for button in (detect.regions_box.line_button, detect.regions_box.zone_button, detect.regions_box.rename_button):
        top = button.mapTo(viewport, QPoint(0, 0)).y()
        assert 0 <= top and top + button.height() <= viewport.height(), (button.text(), top, viewport.height())
    assert not detect.class_filter.isVisible()
    detect.sections["classes"].header.click()  # unfolded on demand, and remembered
    assert detect.class_filter.isVisible()
    assert window.context.store.get("Detect/section/classes", False) is True


def test_a_refused_input_size_leaves_the_running_size_in_the_field(qtbot, tmp_path, detect_window):
    """Issue 27, item 9: the field shows what runs, and the status bar says why."""
    window, detect = detect_window("demo")
    edit = detect.settings_box.size_combo.lineEdit()
    running = detect.settings_box.size_combo.currentText()
    for text in ("300x300", "big"):
        edit.setText(text)
        edit.editingFinished.emit()
        assert detect.settings_box.size_combo.currentText() == running
        assert "nput size" in window.context.last_status


def test_the_status_bar_follows_a_background_compile_from_compiling_to_compiled(qtbot, tmp_path, monkeypatch,
                                                                                 detect_window):
    """Issue 23: the status bar's line says "compiling…" when the model is ready and
    "compiled" once the background compile ended, with no user action. The compile is a
    real BackgroundCompiled (its thread, the check against eager, the swap) with a compiler
    that returns the module as it is, so it ends within the first frames."""
    from engine.features.detect.backends.compiling import BackgroundCompiling
    from engine.features.detect.options import AUTO_COMPILE, COMPILE_ENV
    from engine.runtime.compiled import BackgroundCompiled

    monkeypatch.delenv(COMPILE_ENV, raising=False)
    monkeypatch.setitem(AUTO_COMPILE, "darknet", frozenset({"fp32", "bf16"}))  # auto compiles whatever runs here
    monkeypatch.setattr(BackgroundCompiling, "compilers", (lambda module: module,))
    window, detect = detect_window("demo")
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    qtbot.waitUntil(lambda: any(m.endswith("compiled on cpu") for m in messages), timeout=60000)
    network = window.pipeline.task.detector._network
    assert isinstance(network, BackgroundCompiled) and network.state == "compiled"
    ready = next(i for i, m in enumerate(messages) if "ready on cpu" in m)
    done = next(i for i, m in enumerate(messages) if m.endswith("compiled on cpu"))
    assert ready < done and ", compiling…" in messages[ready] and "yolov4-tiny" in messages[done]
    assert window.statusBar().currentMessage() == messages[done]
    # The message goes after a few seconds; the status bar's mode field keeps saying what runs.
    mode = window.status_panel.mode
    assert mode.text().endswith(", compiled") and "compiling" not in mode.text()
    assert mode.toolTip().splitlines()[0] in messages[done]  # the whole mode; the field may shorten "auto (...)"
