"""The main window: source bar, video view, the feature tabs, status bar, menus and shortcuts.

Data flow (see gui/live/bridge.py): the source's capture thread feeds ``LivePipeline``, which
delivers the newest frame to ``_on_frame`` and the newest result of the active tab's task
to ``_on_result``, both on the GUI thread. A ``FramePresenter`` (gui/live/presenter.py) decides
what the view shows — in Synced mode each result on the frame it was computed from — and
the active tab paints its overlay over that picture.

Start-up is in two steps so the window is on screen before PyTorch has loaded: the shell
(video, source bar, demo) needs no torch; ``install_tabs`` adds the feature tabs once the
engine is up (gui/shell/app.py loads it in the background).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QPainter
from PySide6.QtWidgets import QDockWidget, QFrame, QLabel, QMainWindow, QScrollArea, QSplitter, QTabWidget, QToolBar, QWidget

from engine.core.errors import UserError
from gui.common.context import AppContext
from gui.common.perf_plot import PerfPlot
from gui.common.settings import read_bool, read_int, read_setting
from gui.common.tab_base import StudioTab
from gui.common.video_view import VideoView
from gui.common.wheel_guard import WheelGuard
from gui.live.bridge import LivePipeline
from gui.live.display import LiveDisplay
from gui.live.presenter import FramePresenter
from gui.shell.menus import build_menus
from gui.shell.output import ViewOutput
from gui.shell.source_bar import SourceBar
from gui.shell.sources import KEY_LAST_SOURCE, KEY_MIRROR, SourceSwitcher, storable_spec
from gui.shell.status import StatusPanel
from gui.shell.tab_keys import TabKeyRouter, queue_tab_keys

if TYPE_CHECKING:
    import torch
    from PySide6.QtCore import QSettings

    from engine.core.frame import Frame

log = logging.getLogger(__name__)

APP_TITLE = "CNN Studio"
STATS_INTERVAL_MS = 500

# QSettings keys, in one place so the tests and the README agree with the code.
KEY_GEOMETRY = "window/geometry"
KEY_STATE = "window/state"
KEY_SPLITTER = "window/splitter"
KEY_LAST_TAB = "window/last_tab"
KEY_VIEW_MODE = "window/view_mode"


class MainWindow(QMainWindow):
    """CNN Studio's window.

    ``tabs``: the feature tabs (tests pass their own); None builds the real ones, unless
    ``defer_tabs``: then the tab column says "Loading PyTorch…" until ``load_feature_tabs``
    is called (the app does so once the engine has loaded in the background).
    ``device``: the torch device, or None until the engine is up.
    """

    def __init__(self, settings: "QSettings", device: "torch.device | None" = None, source: str | None = None,
                 tabs: Sequence[StudioTab] | None = None, parent: QWidget | None = None,
                 defer_tabs: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.settings = settings
        self.device = device
        self.pipeline = LivePipeline(device, self)
        self.view = VideoView()
        self.context = AppContext(settings, device, status_sink=self.show_status, dialog_parent=self,
                                  latest_frame=self.latest_frame, video_view=self.view,
                                  inference_fps=lambda: self.pipeline.stats().inference_fps)
        self.output = ViewOutput(self.view, self.show_status, self.context.error)
        self.presenter = FramePresenter(read_setting(settings, KEY_VIEW_MODE, "synced", choices=("synced", "live")))
        self._active: StudioTab | None = None
        self._closing = False
        self.tabs: list[StudioTab] = []

        self.source_bar = SourceBar(settings=settings)
        self.tab_widget = QTabWidget()
        self.tab_widget.setObjectName("featureTabs")
        self.tab_widget.setDocumentMode(True)
        self.perf_plot = PerfPlot()
        self.status_panel = StatusPanel(self.statusBar())
        self._build_layout()
        self._restore_window_state()
        self.display = LiveDisplay(self)
        self.pipeline.frame_ready.connect(self.display.on_frame)
        self.pipeline.result_ready.connect(self.display.on_result)
        self.sources = SourceSwitcher(self)
        self.pipeline.source_event.connect(self.sources.on_event)
        self.pipeline.worker_event.connect(self._on_worker_event)
        self._wheel_guard = WheelGuard(self)
        self._tab_keys = TabKeyRouter(self)
        self._queued_tab: int | None = None  # Ctrl+N pressed while the tabs were loading
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(STATS_INTERVAL_MS)
        self._stats_timer.timeout.connect(self._update_stats)
        self._stats_timer.start()
        if tabs is not None:
            self.install_tabs(tabs, device)
        elif not defer_tabs:
            self.load_feature_tabs(device)
        else:
            build_menus(self)
            self.synced_action.setChecked(self.presenter.mode == "synced")
            queue_tab_keys(self)  # Ctrl+1…9 are kept for when the tabs exist, not dropped
            waiting = QLabel("Loading PyTorch…\n\nThe models start in a few seconds;\nthe video is live already.")
            waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tab_widget.addTab(waiting, "Loading PyTorch…")
            self.status_panel.set_device("loading PyTorch…")
        self.source_bar.refresh_cameras()
        # Open the source once the event loop runs, so the window appears first.
        QTimer.singleShot(0, lambda: self.open_initial_source(source))

    # -- construction ------------------------------------------------------------------
    def _build_layout(self) -> None:
        toolbar = QToolBar("Source")
        toolbar.setObjectName("sourceToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.source_bar)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.tab_widget)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([860, 420])
        self.setCentralWidget(self.splitter)
        self.perf_dock = QDockWidget("Performance", self)
        self.perf_dock.setObjectName("performanceDock")
        self.perf_dock.setWidget(self.perf_plot)
        self.perf_plot.setMinimumHeight(160)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.perf_dock)
        self.resizeDocks([self.perf_dock], [220], Qt.Orientation.Vertical)
        self.perf_dock.hide()
        self.source_bar.source_requested.connect(self.open_source)
        self.source_bar.start_stop_requested.connect(self.toggle_running)
        self.source_bar.mirror_toggled.connect(self.set_mirror)
        self.resize(1280, 800)

    def install_tabs(self, tabs: Sequence[StudioTab], device: "torch.device | None") -> None:
        """Put the feature tabs in (once; the engine is loaded) and start the remembered one."""
        from engine.runtime.device import device_label

        self.device = device
        self.pipeline.device = device
        self.context.device = device
        self.tabs = list(tabs)
        self.tab_widget.blockSignals(True)
        self.tab_widget.clear()
        for tab in self.tabs:
            # A scroll area per tab: a tall tab must not force a minimum window height.
            scroll = QScrollArea()
            scroll.setObjectName(f"tabScroll{self.tab_widget.count()}")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(tab)
            self._wheel_guard.guard(tab)
            self.tab_widget.addTab(scroll, tab.title)
            tab.task_changed.connect(lambda t=tab: self._on_task_changed(t))
            tab.settings_changed.connect(lambda t=tab: self._on_settings_changed(t))
            tab.status_message.connect(self.show_status)
        self.tab_widget.blockSignals(False)
        # The tab column is never narrower than its widest tab (plus a vertical scrollbar).
        scrollbar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        widest = max((tab.minimumSizeHint().width() for tab in self.tabs), default=300)
        self.tab_widget.setMinimumWidth(widest + scrollbar + 8)
        if not hasattr(self, "run_action"):
            build_menus(self)
            self.synced_action.setChecked(self.presenter.mode == "synced")
        else:
            self._rebuild_menus()
        if device is not None:
            self.status_panel.set_device(device_label(device))
        last = read_int(self.settings, KEY_LAST_TAB, 0, 0, max(0, len(self.tabs) - 1))
        queued, self._queued_tab = self._queued_tab, None
        self.tab_widget.setCurrentIndex(queued if queued is not None and queued < len(self.tabs) else last)
        self.tab_widget.currentChanged.connect(self._activate_tab)
        self._activate_tab(self.tab_widget.currentIndex())

    def queue_tab(self, index: int) -> None:
        """Ctrl+``index + 1`` while PyTorch loads: open that tab as soon as the tabs exist."""
        self._queued_tab = index
        self.show_status(f"Tab {index + 1} opens as soon as PyTorch has loaded")

    def load_feature_tabs(self, device: "torch.device") -> None:
        """Build the real feature tabs (the engine must be importable) and install them."""
        from gui.shell.tabs import load_tabs

        self.context.device = device
        self.install_tabs(load_tabs(self.context), device)

    def _rebuild_menus(self) -> None:
        for action in self.actions():
            self.removeAction(action)
        self.menuBar().clear()
        build_menus(self)
        self.synced_action.setChecked(self.presenter.mode == "synced")

    # -- settings ------------------------------------------------------------------------
    def _restore_window_state(self) -> None:
        for key, restore in ((KEY_GEOMETRY, self.restoreGeometry), (KEY_STATE, self.restoreState),
                             (KEY_SPLITTER, self.splitter.restoreState)):
            value = read_setting(self.settings, key, QByteArray())
            if not value.isEmpty():
                restore(value)
        mirror = read_bool(self.settings, KEY_MIRROR, False)
        self.pipeline.set_mirror(mirror)
        self.source_bar.set_mirror(mirror)

    def save_settings(self) -> None:
        self.settings.setValue(KEY_GEOMETRY, self.saveGeometry())
        self.settings.setValue(KEY_STATE, self.saveState())
        self.settings.setValue(KEY_SPLITTER, self.splitter.saveState())
        if self.tabs:
            self.settings.setValue(KEY_LAST_TAB, self.tab_widget.currentIndex())
        self.settings.setValue(KEY_MIRROR, self.pipeline.mirror)
        self.settings.setValue(KEY_VIEW_MODE, self.presenter.mode)
        if self.sources.current_spec is not None:
            self.settings.setValue(KEY_LAST_SOURCE, storable_spec(self.sources.current_spec))
        self.settings.sync()

    # -- sources (gui/shell/sources.py) ---------------------------------------------------
    def open_initial_source(self, requested: str | None) -> None:
        if not self._closing:
            self.sources.open_initial(requested)

    def open_source(self, spec: str, report: bool = True) -> bool:
        """Start the source named by ``spec``; True on success (see ``SourceSwitcher.open``)."""
        return self.sources.open(spec, report)

    def toggle_running(self) -> None:
        self.sources.toggle_running()

    def set_mirror(self, mirror: bool) -> None:
        self.sources.set_mirror(mirror)

    def latest_frame(self) -> "Frame | None":
        """The newest captured frame of the playing source (None before the first)."""
        return self.pipeline.latest_frame

    # -- what the view shows (GUI thread) ------------------------------------------------
    def toggle_view_mode(self) -> None:
        """Ctrl+L: Synced (each result on its own frame) <-> Live (newest frame)."""
        self.set_view_mode("live" if self.presenter.mode == "synced" else "synced")

    def set_view_mode(self, mode: str) -> None:
        self.presenter.set_mode(mode)
        self.display.sync_frame_delivery()
        self.synced_action.setChecked(mode == "synced")
        self.settings.setValue(KEY_VIEW_MODE, mode)
        self.show_status("Synced: each result is shown on the frame it was computed from" if mode == "synced"
                         else "Live: the newest frame, with the newest result")

    # -- engine events -------------------------------------------------------------------
    @Slot(object)
    def _on_worker_event(self, event) -> None:
        if event.kind == "load_error":
            # A UserError (missing weights, a file that does not fit) says what and what to do
            # itself; anything else is shown with its type, as the worker wrote it.
            problem = event.error if isinstance(event.error, UserError) else event.message
            self.context.error("The model could not be loaded", problem)
        elif event.kind in ("frame_error", "settings_error", "loading", "ready", "status"):
            # "status": the running task's state changed, e.g. its background compile ended.
            self.show_status(event.message)
        if event.kind in ("ready", "status"):  # the message goes after a few seconds; the mode stays
            self.status_panel.set_mode(event.status)
        elif event.kind in ("loading", "load_error", "stopped"):
            self.status_panel.set_mode("")

    # -- tabs ----------------------------------------------------------------------------
    @Slot(int)
    def _activate_tab(self, index: int) -> None:
        new = self.tabs[index] if 0 <= index < len(self.tabs) else None
        old, self._active = self._active, new
        if old is not None and old is not new:
            try:
                old.deactivated()
            except Exception:
                log.exception("%s.deactivated failed", old.title)
        self.view.set_overlay_painter(self._paint_active_overlay if new is not None else None)
        # Only tabs that draw into the picture get a raster pass (it costs a composition).
        draws = new is not None and type(new).raster_overlay is not StudioTab.raster_overlay
        self.view.set_raster_overlay(self._draw_active_overlay if draws else None)
        if new is not None:
            try:
                new.activated()
            except Exception:
                log.exception("%s.activated failed", new.title)
            self.settings.setValue(KEY_LAST_TAB, index)
        self._apply_task(new)

    def _on_task_changed(self, tab: StudioTab) -> None:
        if tab is self._active:
            self._apply_task(tab)

    def _on_settings_changed(self, tab: StudioTab) -> None:
        if tab is not self._active:
            return
        try:
            settings = tab.task_settings()
        except Exception as exc:
            log.exception("%s.task_settings failed", tab.title)
            self.show_status(f"{tab.title}: {type(exc).__name__}: {exc}")
            return
        self.pipeline.update_settings(settings)

    def _apply_task(self, tab: StudioTab | None) -> None:
        task = None
        if tab is not None:
            try:
                task = tab.make_task()
            except Exception as exc:
                log.exception("%s.make_task failed", tab.title)
                self.context.error(f"{tab.title} cannot start", f"{type(exc).__name__}: {exc}")
        self.pipeline.set_task(task)
        self.presenter.task_changed(task is not None)
        self.display.sync_frame_delivery()  # without a task's results, frames are shown again now

    def _paint_active_overlay(self, painter: QPainter, width: int, height: int) -> None:
        if self._active is not None:
            self._active.paint_overlay(painter, width, height)

    def _draw_active_overlay(self, canvas, scale: float, width: int, height: int) -> None:
        if self._active is not None:
            self._active.raster_overlay(canvas, scale, width, height)

    @property
    def active_tab(self) -> StudioTab | None:
        return self._active

    @property
    def closing(self) -> bool:
        return self._closing

    # -- status ----------------------------------------------------------------------------
    def show_status(self, message: str, timeout_ms: int = 6000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    @Slot()
    def _update_stats(self) -> None:
        stats = self.pipeline.stats()
        self.status_panel.show_stats(stats, self.output.check())
        self.perf_plot.add_sample(stats.capture_fps, stats.inference_fps, stats.latency_ms)  # redraws only when shown
        if hasattr(self, "record_action") and self.record_action.isChecked() != self.output.recording:
            self.record_action.setChecked(self.output.recording)

    # -- snapshot and recording ------------------------------------------------------------
    def snapshot_dir(self) -> Path:
        return self.output.snapshot_dir()

    def recording_dir(self) -> Path:
        return self.output.recording_dir()

    def snapshot(self, path: str | Path | None = None) -> Path | None:
        """Save what is shown (picture + overlays, frame resolution) as a PNG; returns the path."""
        return self.output.snapshot(path)

    def toggle_recording(self) -> None:
        if self.output.recording:
            self.stop_recording()
        else:
            self.start_recording()

    def start_recording(self, path: str | Path | None = None) -> Path | None:
        """Record what is shown (at the source's frame rate, on real time) until ``stop_recording``."""
        source = self.pipeline.source
        target = self.output.start(source.fps if source is not None else 30.0, path)
        self.record_action.setChecked(target is not None)
        self.status_panel.show_recording(self.output.check())
        return target

    def stop_recording(self) -> Path | None:
        """Finish the recording (flushes the file); returns its path."""
        path = self.output.stop()
        self.record_action.setChecked(False)
        self.status_panel.show_recording(None)
        return path

    # -- other actions ---------------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

    def open_model_manager(self) -> None:
        from gui.common.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self.context.weights_cache, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        # A tab waiting for weights can start as soon as they are installed.
        dialog.models_changed.connect(self.models_changed)
        dialog.open()

    def models_changed(self) -> None:
        """Weights were installed or removed: the active tab refreshes what it offers (its
        pickers, its "not installed" state) and its task is rebuilt, so a tab waiting for
        weights starts at once. Other tabs refresh when they are next shown."""
        if self._active is not None:
            self._active.activated()
        self._apply_task(self._active)

    # -- shutdown ----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save settings, finish recording, stop the source, the worker and every tab (idempotent)."""
        if self._closing:
            return
        self._closing = True
        started = time.monotonic()
        self._stats_timer.stop()
        self._tab_keys.stop()
        self.save_settings()
        self.stop_recording()
        self.pipeline.shutdown()
        log.debug("shutdown: settings, recording, source and worker done after %.2f s", time.monotonic() - started)
        for tab in self.tabs:
            try:
                tab.shutdown()
            except Exception:
                log.exception("%s.shutdown failed", tab.title)
        self.context.shutdown()
        log.info("closed in %.2f s", time.monotonic() - started)
