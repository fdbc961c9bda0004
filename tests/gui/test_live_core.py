"""Live core v2 in the window: results on their own frames, generations, source changes, recording."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtGui import QColor, QPainter

from engine.core.frame import Frame
from engine.runtime.worker import Task, TaskResult
from gui.common.context import AppContext
from gui.common.tab_base import StudioTab


@dataclass(frozen=True)
class Tagged:
    tag: str
    index: int


class SlowTask(Task):
    """Slower than the camera (30 fps demo): what a CPU detector is."""

    name = "slow"

    def __init__(self, tag: str = "A", delay: float = 0.12) -> None:
        self.tag, self.delay = tag, delay

    def infer(self, frame: Frame) -> Frame:
        time.sleep(self.delay)
        return frame

    def postprocess(self, frame: Frame, original: Frame) -> Tagged:
        return Tagged(self.tag, original.index)


class RecordingTab(StudioTab):
    """Remembers what it was given and, on every paint, which result it drew over which frame."""

    title = "Probe"

    def __init__(self, context, paint_delay: float = 0.0) -> None:
        super().__init__(context)
        self.tag = "A"
        self.results: list[TaskResult] = []
        self.paints: list[tuple[int | None, int]] = []  # (frame index shown, frame index of the result drawn)
        self.paint_delay = paint_delay

    def make_task(self) -> Task:
        return SlowTask(self.tag)

    def on_result(self, result: TaskResult) -> None:
        self.results.append(result)

    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        if self.paint_delay:
            time.sleep(self.paint_delay)  # an artificially slow GUI thread
        if self.results:
            view = self.context.video_view
            self.paints.append((view.shown_index, self.results[-1].frame.index))
            painter.fillRect(0, 0, 8, 8, QColor(255, 0, 255))


@pytest.fixture
def window_with(make_window, settings):
    def make(source="demo", **tab_options):
        context = AppContext(settings, torch.device("cpu"))
        tab = RecordingTab(context, **tab_options)
        window = make_window(source, tabs=[tab])
        tab.context = window.context  # paints read the window's view
        return window, tab
    return make


def test_synced_view_paints_each_result_on_the_frame_it_was_computed_on(qtbot, window_with):
    window, tab = window_with()
    assert window.presenter.mode == "synced"  # the default
    qtbot.waitUntil(lambda: len(tab.results) >= 3, timeout=15000)
    tab.paints.clear()
    qtbot.waitUntil(lambda: len(tab.paints) >= 8, timeout=15000)
    assert all(shown == computed for shown, computed in tab.paints), tab.paints
    result = tab.results[-1]
    if window.view.shown_index == result.frame.index:
        assert window.view.current_image() is result.frame.image  # the very pixels it saw


def test_live_view_shows_the_newest_frame_ahead_of_the_result(qtbot, window_with):
    window, tab = window_with()
    window.set_view_mode("live")
    qtbot.waitUntil(lambda: len(tab.results) >= 3, timeout=15000)
    tab.paints.clear()
    qtbot.waitUntil(lambda: len(tab.paints) >= 10, timeout=15000)
    assert any(shown > computed for shown, computed in tab.paints if shown is not None)


def test_a_task_of_the_same_name_swapped_mid_stream_never_shows_an_old_result(qtbot, window_with):
    window, tab = window_with()
    qtbot.waitUntil(lambda: len(tab.results) >= 2, timeout=15000)
    tab.tag = "B"
    tab.task_changed.emit()  # same task name, new model: a new generation
    swapped = len(tab.results)
    qtbot.waitUntil(lambda: sum(r.result.tag == "B" for r in tab.results) >= 4, timeout=15000)
    after = [r.result.tag for r in tab.results[swapped:]]
    assert set(after) == {"B"}, after


def test_nothing_of_the_old_source_is_drawn_after_a_source_change(qtbot, window_with, tmp_path):
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), np.full((120, 160, 3), 90, np.uint8))
    window, tab = window_with()
    qtbot.waitUntil(lambda: len(tab.results) >= 2, timeout=15000)
    assert window.open_source(str(image))
    switched = len(tab.results)
    qtbot.waitUntil(lambda: len(tab.results) >= switched + 3, timeout=15000)
    sources = {r.frame.source for r in tab.results[switched:]}
    assert sources == {"still.png"}, sources  # the late result of the demo frame never reached the tab
    assert window.view.current_image().shape == (120, 160, 3)


def test_a_recording_lasts_as_long_as_the_session_even_with_a_slow_gui(qtbot, window_with, tmp_path):
    window, tab = window_with(paint_delay=0.06)  # the GUI manages ~15 pictures a second at most
    qtbot.waitUntil(lambda: len(tab.results) >= 2, timeout=15000)
    target = tmp_path / "session.avi"
    started = time.monotonic()
    assert window.start_recording(target) == target
    qtbot.wait(5000)
    path = window.stop_recording()
    elapsed = time.monotonic() - started
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert fps == pytest.approx(30.0, abs=0.5)
    duration = frames / fps
    assert duration == pytest.approx(elapsed, rel=0.05), (frames, fps, elapsed)
    assert len(tab.paints) < 0.8 * frames  # the GUI really showed fewer pictures than the video holds


def test_synced_results_stop_frame_deliveries_and_a_stall_brings_them_back(qtbot, window_with):
    """While results flow in Synced mode the GUI thread is not woken for frames it would
    not show; when results stop (no task), the newest frames are shown again."""
    window, tab = window_with()
    delivered = []
    window.pipeline.frame_ready.connect(lambda frame: delivered.append(frame.index))
    qtbot.waitUntil(lambda: len(tab.results) >= 3 and not window.pipeline.frames_wanted, timeout=15000)
    delivered.clear()
    qtbot.wait(600)  # the demo captures ~18 frames meanwhile
    assert len(delivered) <= 1, delivered
    assert window.latest_frame() is not None and window.latest_frame().index > tab.results[-1].frame.index - 30
    window.set_view_mode("live")  # Live shows the newest frames: they flow again at once
    assert window.pipeline.frames_wanted
    qtbot.waitUntil(lambda: len(delivered) >= 5, timeout=5000)
    window.set_view_mode("synced")
    window._apply_task(None)  # no task: nothing brings frames any more
    delivered.clear()
    qtbot.waitUntil(lambda: len(delivered) >= 5, timeout=5000)
    assert window.view.shown_index >= delivered[0]


class StallingTask(SlowTask):
    """Delivers a few results, then blocks until released (a model that hangs)."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__("S", delay=0.05)
        self.gate, self.count = gate, 0

    def infer(self, frame: Frame) -> Frame:
        self.count += 1
        if self.count > 4:
            self.gate.wait(20)
        return super().infer(frame)


class StallingTab(RecordingTab):
    """A RecordingTab whose model hangs after a few frames (module level: a Qt class made
    inside a test is garbage-collected later while Qt may still hold its widget)."""

    def __init__(self, context, gate: threading.Event) -> None:
        super().__init__(context)
        self.gate = gate

    def make_task(self) -> Task:
        return StallingTask(self.gate)


def test_a_stalled_model_lets_the_live_picture_through_again(qtbot, make_window, settings):
    gate = threading.Event()
    tab = StallingTab(AppContext(settings, torch.device("cpu")), gate)
    window = make_window("demo", tabs=[tab])
    tab.context = window.context
    try:
        qtbot.waitUntil(lambda: len(tab.results) >= 3 and not window.pipeline.frames_wanted, timeout=15000)
        stalled_at = tab.results[-1].frame.index
        # After the presenter's patience (1 s) frames are handed over and shown again.
        qtbot.waitUntil(lambda: window.pipeline.frames_wanted and (window.view.shown_index or 0) > stalled_at + 20,
                        timeout=5000)
    finally:
        gate.set()


def test_the_dropped_counter_starts_again_with_each_source(qtbot, window_with):
    """Issue 27, item 11: "dropped" counts the frames of the source playing now."""
    window, _tab = window_with()
    qtbot.waitUntil(lambda: window.pipeline.stats().dropped >= 20, timeout=20000)
    assert window.open_source("demo")
    assert window.pipeline.stats().dropped < 20
