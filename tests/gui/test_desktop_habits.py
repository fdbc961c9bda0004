"""Desktop habits: Space starts/stops whatever has focus (but text fields keep their spaces),
the wheel scrolls the side panel, dialogs open in the last folder, signals close cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QLineEdit, QSlider, QVBoxLayout

from gui.common import file_dialogs
from gui.common.context import AppContext
from gui.common.tab_base import StudioTab

ROOT = Path(__file__).resolve().parents[2]


class ControlsTab(StudioTab):
    """A tall tab: a text field, a check box, then many sliders (it must scroll)."""

    title = "Controls"

    def __init__(self, context) -> None:
        super().__init__(context)
        layout = QVBoxLayout(self)
        self.text = QLineEdit()
        self.check = QCheckBox("an option")
        layout.addWidget(self.text)
        layout.addWidget(self.check)
        self.sliders = []
        for _ in range(30):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setValue(50)
            slider.setMinimumHeight(40)
            layout.addWidget(slider)
            self.sliders.append(slider)


@pytest.fixture
def controls_window(make_window, settings):
    tab = ControlsTab(AppContext(settings, torch.device("cpu")))
    window = make_window("demo", tabs=[tab])
    window.resize(900, 500)
    return window, tab


def test_space_toggles_the_video_unless_a_text_field_has_focus(qtbot, controls_window, frames_waiter):
    window, tab = controls_window
    frames_waiter(qtbot, window, 2)
    assert window.pipeline.running
    tab.check.setFocus()
    qtbot.waitUntil(tab.check.hasFocus, timeout=3000)
    qtbot.keyClick(tab.check, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not window.pipeline.running, timeout=3000)
    assert not tab.check.isChecked()  # the check box did not swallow it
    tab.text.setFocus()
    qtbot.waitUntil(tab.text.hasFocus, timeout=3000)
    qtbot.keyClicks(tab.text, "a b")
    assert tab.text.text() == "a b" and not window.pipeline.running
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton)  # a click on the video takes the focus
    qtbot.waitUntil(window.view.hasFocus, timeout=3000)
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.pipeline.running, timeout=5000)


def _wheel(widget, delta: int = -120) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, widget.mapToGlobal(centre), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_panel_and_moves_a_slider_only_when_focused(qtbot, controls_window):
    window, tab = controls_window
    slider = tab.sliders[3]
    scroll_bar = window.tab_widget.currentWidget().verticalScrollBar()
    qtbot.waitUntil(lambda: scroll_bar.maximum() > 0, timeout=3000)
    before = scroll_bar.value()
    _wheel(slider)
    assert slider.value() == 50  # not changed by passing over it
    assert scroll_bar.value() > before  # the panel scrolled instead
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus, timeout=3000)
    _wheel(slider)
    assert slider.value() != 50


def test_dialogs_start_in_the_folder_of_the_last_pick(tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert file_dialogs.last_folder(settings) == str(Path.home())
    videos = tmp_path / "videos"
    videos.mkdir()
    file_dialogs.remember(str(videos / "birds.mp4"), settings)
    assert file_dialogs.last_folder(settings) == str(videos)
    file_dialogs.remember(str(tmp_path), settings)  # a folder pick remembers the folder itself
    assert file_dialogs.last_folder(settings) == str(tmp_path)
    gone = tmp_path / "gone"
    gone.mkdir()
    file_dialogs.remember(str(gone / "x.png"), settings)
    gone.rmdir()
    assert file_dialogs.last_folder(settings) == str(Path.home())  # a folder that vanished is not offered


def _wait_for_line(log: Path, text: str, app: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert app.poll() is None, log.read_text(errors="replace")
        time.sleep(0.02)
    raise AssertionError(f"'{text}' never appeared:\n{log.read_text(errors='replace')}")


@pytest.mark.parametrize("signum, moment, delay", [
    (signal.SIGTERM, "window shown", 0.0),    # the window just appeared, PyTorch still loading
    (signal.SIGINT, "window shown", 0.5),
    (signal.SIGTERM, "engine ready", 0.5),    # everything up, the demo playing
])
def test_a_signal_closes_the_app_cleanly_and_quickly(tmp_path, signum, moment, delay):
    """SIGTERM (logout) or SIGINT (Ctrl+C) at any moment after the window appears:
    exit 0 within 2 s, settings saved, no crash."""
    env = dict(os.environ, CNN_STUDIO_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    log = tmp_path / "app.log"
    with log.open("wb") as sink:
        app = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "-v", "--source", "demo"], env=env,
                               stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for_line(log, moment, app)
        time.sleep(delay)
        app.send_signal(signum)
        sent = time.monotonic()
        code = app.wait(20)
        took = time.monotonic() - sent
    finally:
        if app.poll() is None:
            app.kill()
    output = log.read_text(errors="replace")
    assert code == 0, output
    print(f"closed {took:.2f} s after the signal")  # timing is reported, not asserted (shared machines)
    settings = list((tmp_path / "home").rglob("settings.ini"))
    assert settings and "geometry" in settings[0].read_text()
    assert "Traceback" not in output and "Segmentation" not in output
