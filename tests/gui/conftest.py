"""Fixtures for the GUI shell tests: isolated settings, a probe tab with a real engine Task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QPainter

from engine.core.frame import Frame
from engine.runtime.worker import Task, TaskResult
from gui.common.tab_base import StudioTab

# The demo frame size; the shell does not care, but the assertions below do.
DEMO_W, DEMO_H = 640, 480
MARK_COLOR = (255, 0, 255)  # BGR magenta: easy to find in a snapshot


@dataclass(frozen=True)
class MeanResult:
    """What ProbeTask computes: the frame's mean brightness and its size."""

    mean: float
    width: int
    height: int


class ProbeTask(Task):
    """A tiny real task: mean brightness of the frame with torch (runs on the worker thread)."""

    name = "probe"

    def load(self, device: torch.device) -> None:
        self.device = device

    def preprocess(self, frame: Frame) -> torch.Tensor:
        return torch.from_numpy(frame.image).to(self.device)

    def infer(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.float().mean()

    def postprocess(self, outputs: torch.Tensor, frame: Frame) -> MeanResult:
        return MeanResult(float(outputs), frame.width, frame.height)


class ProbeTab(StudioTab):
    """A tab that runs ProbeTask, paints a magenta square at frame (10..40, 10..40) and can
    show an inverted picture instead of the camera frame."""

    title = "Probe"

    def __init__(self, context, title: str = "Probe") -> None:
        super().__init__(context)
        self.title = title
        self.results: list[TaskResult] = []
        self.invert = False
        self.activations = 0
        self.deactivations = 0
        self.shut_down = False

    def make_task(self) -> Task:
        return ProbeTask()

    def on_result(self, result: TaskResult) -> None:
        self.results.append(result)

    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        b, g, r = MARK_COLOR
        painter.fillRect(10, 10, 30, 30, QColor(r, g, b))

    def display_image(self, frame: Frame) -> np.ndarray | None:
        return (255 - frame.image) if self.invert else None

    def activated(self) -> None:
        self.activations += 1

    def deactivated(self) -> None:
        self.deactivations += 1

    def shutdown(self) -> None:
        self.shut_down = True


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """A private INI file, so tests never share window state."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def probe_tab_class() -> type[ProbeTab]:
    return ProbeTab


@pytest.fixture
def make_window(qtbot, settings):
    """Build MainWindows (closed and shut down after the test)."""
    from gui.shell.main_window import MainWindow

    windows = []

    def make(source: str | None = "demo", tabs=None, settings_=None):
        window = MainWindow(settings_ if settings_ is not None else settings, torch.device("cpu"),
                            source=source, tabs=tabs)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()


def wait_frames(qtbot, window, count: int, timeout: int = 10000) -> None:
    """Wait until the view received ``count`` more frames."""
    start = window.view.frames_received
    qtbot.waitUntil(lambda: window.view.frames_received >= start + count, timeout=timeout)


@pytest.fixture
def frames_waiter():
    return wait_frames
