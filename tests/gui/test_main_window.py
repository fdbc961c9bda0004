"""The main window, offscreen, on the real demo source."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from gui.shell.main_window import KEY_LAST_SOURCE, KEY_LAST_TAB

DEMO_W, DEMO_H = 640, 480
TITLES = ["Detect", "Faces", "Style", "Feature maps", "Teach", "Segment"]


def test_opens_with_the_tabs_and_shows_moving_demo_frames(qtbot, make_window, frames_waiter):
    window = make_window("demo")
    assert [window.tab_widget.tabText(i) for i in range(window.tab_widget.count())] == TITLES
    frames_waiter(qtbot, window, 3)
    first = window.view.current_image().copy()
    assert first.shape == (DEMO_H, DEMO_W, 3)
    frames_waiter(qtbot, window, 5)
    second = window.view.current_image()
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 1.0, "demo frames should move"
    qtbot.waitUntil(lambda: window.view.frames_painted > 0, timeout=5000)
    qtbot.waitUntil(lambda: "fps" in window.status_panel.capture.text() and not window.status_panel.capture.text().startswith("capture –"),
                    timeout=5000)
    assert window.status_panel.device.text().startswith("CPU")


def test_no_source_given_falls_back_to_demo_without_camera(qtbot, make_window, frames_waiter):
    window = make_window(source=None)
    frames_waiter(qtbot, window, 3)
    assert window.pipeline.source is not None and window.pipeline.source.name == "demo"


def test_ctrl_number_switches_tabs(qtbot, make_window):
    window = make_window("demo")
    with qtbot.waitActive(window):
        window.activateWindow()
    keys = {1: Qt.Key.Key_1, 2: Qt.Key.Key_2, 3: Qt.Key.Key_3, 4: Qt.Key.Key_4, 5: Qt.Key.Key_5}
    for number, expected in ((2, 1), (4, 3), (5, 4), (3, 2), (1, 0)):
        QTest.keyClick(window.view, keys[number], Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: window.tab_widget.currentIndex() == expected, timeout=2000)
        assert window.active_tab is window.tabs[expected]


@pytest.mark.parametrize("kind", ["missing_video", "empty_folder", "corrupt_image", "corrupt_video", "no_camera"])
def test_bad_source_shows_message_and_app_keeps_running(qtbot, make_window, frames_waiter, tmp_path, kind):
    window = make_window("demo")
    frames_waiter(qtbot, window, 2)
    playing = window.pipeline.source
    if kind == "missing_video":
        spec = str(tmp_path / "nope.mp4")
    elif kind == "empty_folder":
        (tmp_path / "empty").mkdir()
        spec = str(tmp_path / "empty")
    elif kind == "corrupt_image":
        (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
        spec = str(tmp_path / "broken.png")
    elif kind == "corrupt_video":
        (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 4000)
        spec = str(tmp_path / "broken.mp4")
    else:
        spec = "57"  # no machine here has 58 cameras
    assert window.open_source(spec) is False
    title, message = window.context.last_error
    assert "source" in title.lower()
    assert (Path(spec).name in message) or (spec in message)
    assert "keeps playing" in message.lower()
    dialog = window.findChild(QMessageBox, "errorDialog")
    # The dialog: what was wrong as its text, what to do and what happens now below it.
    assert dialog is not None and message.startswith(dialog.text()) and dialog.text()
    assert "keeps playing" in dialog.informativeText().lower()
    # The source that was playing carries on, untouched.
    frames_waiter(qtbot, window, 3)
    assert window.pipeline.source is playing and playing.running
    assert window.statusBar().currentMessage()


def test_a_bad_source_with_nothing_playing_falls_back_to_the_demo(qtbot, make_window, frames_waiter, tmp_path):
    window = make_window(str(tmp_path / "missing.mp4"))
    qtbot.waitUntil(lambda: window.context.last_error is not None, timeout=5000)
    assert "demo" in window.context.last_error[1].lower()
    frames_waiter(qtbot, window, 3)
    assert window.pipeline.source.name == "demo"


def test_video_file_source_plays(qtbot, make_window, frames_waiter, tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (160, 120))
    for i in range(20):
        writer.write(np.full((120, 160, 3), i * 10, np.uint8))
    writer.release()
    window = make_window(str(path))
    qtbot.waitUntil(lambda: window.view.current_image() is not None
                    and window.view.current_image().shape == (120, 160, 3), timeout=10000)
    assert window.settings.value(KEY_LAST_SOURCE) == str(path)


def test_settings_persist_between_windows(qtbot, make_window, frames_waiter, settings, tmp_path):
    picture = tmp_path / "still.png"
    cv2.imwrite(str(picture), np.full((90, 120, 3), 77, np.uint8))
    first = make_window(str(picture))
    assert first.minimumSizeHint().height() < 570  # tall tabs scroll instead of growing the window
    frames_waiter(qtbot, first, 1)
    first.resize(790, 570)  # inside the offscreen screen (800 x 600)
    assert (first.width(), first.height()) == (790, 570)
    first.tab_widget.setCurrentIndex(2)
    first.perf_dock.show()
    first.close()
    assert settings.value(KEY_LAST_TAB) in (2, "2")

    second = make_window(source=None, settings_=settings)
    assert second.tab_widget.currentIndex() == 2
    assert (second.width(), second.height()) == (790, 570)
    assert second.perf_dock.isVisible()
    # No --source: the last source is reopened because it still works.
    qtbot.waitUntil(lambda: second.view.current_image() is not None
                    and second.view.current_image().shape == (90, 120, 3), timeout=5000)


def test_results_reach_the_active_tab_and_overlays_land_in_snapshots(
        qtbot, make_window, frames_waiter, probe_tab_class, tmp_path, settings):
    import torch

    from gui.common.context import AppContext

    context = AppContext(settings, torch.device("cpu"))
    probes = [probe_tab_class(context, title) for title in TITLES]
    window = make_window("demo", tabs=probes)
    active = window.active_tab
    qtbot.waitUntil(lambda: len(active.results) >= 3, timeout=15000)
    result = active.results[-1]
    assert (result.result.width, result.result.height) == (DEMO_W, DEMO_H)
    expected_mean = float(result.frame.image.mean())
    assert result.result.mean == pytest.approx(expected_mean, rel=1e-4)
    assert result.timings.latency_ms >= result.timings.total_ms
    assert all(not tab.results for tab in probes if tab is not active)
    qtbot.waitUntil(lambda: window.pipeline.stats().inference_fps > 0, timeout=5000)
    assert window.pipeline.stats().latency_ms is not None
    qtbot.waitUntil(lambda: window.status_panel.latency.text().split()[1].isdigit(), timeout=5000)

    path = window.snapshot(tmp_path / "shot.png")
    saved = cv2.imread(str(path))
    assert saved.shape == (DEMO_H, DEMO_W, 3)
    assert tuple(int(c) for c in saved[25, 25]) == (255, 0, 255)  # the overlay square, frame pixels 10..40
    assert tuple(int(c) for c in saved[200, 320]) != (255, 0, 255)

    # display_image replaces the camera frame in the view (live mode: the newest frame).
    window.set_view_mode("live")
    active.invert = True
    frames_waiter(qtbot, window, 2)
    shown = window.view.current_image()
    latest = window.latest_frame()
    assert shown is not latest.image
    assert np.array_equal(shown, 255 - latest.image)

    # Switching tabs swaps the task and notifies both tabs.
    window.tab_widget.setCurrentIndex(1)
    assert active.deactivations == 1 and probes[1].activations == 1
    qtbot.waitUntil(lambda: len(probes[1].results) >= 2, timeout=15000)
    window.shutdown()
    assert all(tab.shut_down for tab in probes)


def test_snapshot_shortcut_writes_png_of_frame_size(qtbot, make_window, frames_waiter):
    window = make_window("demo")
    frames_waiter(qtbot, window, 2)
    qtbot.waitExposed(window)
    window.activateWindow()
    before = set(window.snapshot_dir().glob("*.png"))
    QTest.keyClick(window.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(set(window.snapshot_dir().glob("*.png")) - before) == 1, timeout=3000)
    (new,) = set(window.snapshot_dir().glob("*.png")) - before
    assert cv2.imread(str(new)).shape == (DEMO_H, DEMO_W, 3)
    assert "Snapshot saved" in window.statusBar().currentMessage()


def test_record_writes_a_readable_video(qtbot, make_window, frames_waiter, tmp_path):
    window = make_window("demo")
    frames_waiter(qtbot, window, 2)
    target = window.start_recording(tmp_path / "clip.avi")
    assert target is not None and window.record_action.isChecked()
    frames_waiter(qtbot, window, 15)
    path = window.stop_recording()
    assert not window.record_action.isChecked()
    capture = cv2.VideoCapture(str(path))
    count = 0
    size = None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        size = image.shape
        count += 1
    capture.release()
    assert count >= 10
    assert size == (DEMO_H, DEMO_W, 3)


def test_space_stops_and_starts_the_source(qtbot, make_window, frames_waiter):
    window = make_window("demo")
    frames_waiter(qtbot, window, 2)
    qtbot.waitExposed(window)
    window.activateWindow()
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not window.pipeline.running, timeout=3000)
    assert window.source_bar.start_button.text() == "Start"
    QTest.keyClick(window.view, Qt.Key.Key_Space)
    frames_waiter(qtbot, window, 2)
    assert window.pipeline.running


def test_lost_camera_shows_reconnecting_and_recovers(qtbot, make_window, frames_waiter):
    from engine.io.base import FrameSource

    class FlakyCamera(FrameSource):
        """A real FrameSource that loses its device after 5 frames, then refuses to reopen twice."""

        kind = "camera"
        reconnects = True

        def __init__(self) -> None:
            super().__init__("flaky camera", fps=60.0)
            self.backoff_initial = 0.05
            self.reads = 0
            self.opens = 0

        def _open(self) -> None:
            self.opens += 1
            if 2 <= self.opens <= 3:
                raise OSError("no such device")

        def _read(self):
            self.reads += 1
            if self.reads == 5:
                raise OSError("device unplugged")
            return np.full((48, 64, 3), self.reads % 250, np.uint8)

    window = make_window("demo")
    frames_waiter(qtbot, window, 1)
    statuses, banners = [], []

    def on_status(text: str) -> None:
        statuses.append(text)
        banners.append(window.view.banner())

    window.statusBar().messageChanged.connect(on_status)
    camera = window.pipeline.attach(FlakyCamera())
    qtbot.waitUntil(lambda: any("reconnecting" in s for s in statuses), timeout=5000)
    qtbot.waitUntil(lambda: any("reconnected" in s for s in statuses), timeout=5000)
    assert any(b is not None and "reconnecting" in b for b in banners)  # shown over the picture
    assert window.view.banner() is None  # and cleared once the camera is back
    assert camera.opens == 4
    frames_waiter(qtbot, window, 3)
    assert window.view.current_image().shape == (48, 64, 3)


def test_mirror_flips_what_is_shown_and_persists(qtbot, make_window, tmp_path, settings):
    picture = tmp_path / "half.png"
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :40] = 255  # left half white
    cv2.imwrite(str(picture), image)
    window = make_window(str(picture))
    qtbot.waitUntil(lambda: window.view.current_image() is not None
                    and window.view.current_image()[20, 10].tolist() == [255, 255, 255], timeout=5000)
    window.source_bar.mirror_check.setChecked(True)
    qtbot.waitUntil(lambda: window.view.current_image()[20, 10].tolist() == [0, 0, 0], timeout=5000)
    assert window.view.current_image()[20, 70].tolist() == [255, 255, 255]
    window.close()
    assert settings.value("source/mirror") in (True, "true")


def test_task_changed_swaps_the_running_task(qtbot, make_window, frames_waiter, probe_tab_class, settings):
    import torch

    from gui.common.context import AppContext

    context = AppContext(settings, torch.device("cpu"))
    probes = [probe_tab_class(context, title) for title in TITLES]
    window = make_window("demo", tabs=probes)
    first_task = window.pipeline.task
    assert first_task is not None
    probes[1].task_changed.emit()  # not the active tab: nothing changes
    assert window.pipeline.task is first_task
    probes[0].task_changed.emit()
    assert window.pipeline.task is not first_task and window.pipeline.task.name == "probe"
    count = len(probes[0].results)
    qtbot.waitUntil(lambda: len(probes[0].results) > count, timeout=15000)


def test_models_menu_opens_the_model_manager(qtbot, make_window):
    from gui.common.model_manager import ModelManagerDialog

    window = make_window("demo")
    window.open_model_manager()
    dialog = window.findChild(ModelManagerDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.table.rowCount() == len(dialog.catalog.entries())
    dialog.close()


def test_f11_toggles_full_screen(qtbot, make_window):
    window = make_window("demo")
    with qtbot.waitActive(window):
        window.activateWindow()
    QTest.keyClick(window.view, Qt.Key.Key_F11)
    qtbot.waitUntil(window.isFullScreen, timeout=3000)
    assert window.fullscreen_action.isChecked()
    QTest.keyClick(window.view, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=3000)
    assert not window.fullscreen_action.isChecked()


def test_the_status_bar_keeps_the_models_mode_short_with_the_reason_in_its_tooltip(qtbot):
    from PySide6.QtWidgets import QStatusBar

    from gui.shell.status import StatusPanel

    bar = QStatusBar()
    qtbot.addWidget(bar)
    panel = StatusPanel(bar)
    panel.set_mode("auto (fp32: bf16 not shown to agree with fp32 for this model), compiled")
    assert panel.mode.text() == "auto: fp32, compiled"
    assert panel.mode.toolTip().startswith("auto (fp32: bf16 not shown to agree with fp32 for this model), compiled\n")
    panel.set_mode("bf16, compiling…")
    assert panel.mode.text() == "bf16, compiling…"
    panel.set_mode("")
    assert panel.mode.text() == "" and "precision" in panel.mode.toolTip()
