"""The main window: source bar, video view, the four tabs, status bar, menus and shortcuts.

Data flow (see gui/bridge.py): the source's capture thread feeds ``LivePipeline``, which
delivers the newest frame to ``_on_frame`` and the newest result of the active tab's task
to ``_on_result``, both on the GUI thread. The window decides what the video view shows
(the camera frame, or the tab's ``display_image``) and lets the active tab paint overlays.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
from PySide6.QtCore import QByteArray, QStandardPaths, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolBar,
    QWidget,
)

from gui.bridge import LivePipeline
from gui.context import AppContext
from gui.settings import read_bool, read_int
from gui.tabs import load_tabs
from gui.tabs.base import StudioTab
from gui.widgets.perf_plot import PerfPlot
from gui.widgets.source_bar import SourceBar
from gui.widgets.video_view import VideoView

if TYPE_CHECKING:
    import torch
    from PySide6.QtCore import QSettings

    from engine.recorder import VideoRecorder
    from engine.sources import Frame

log = logging.getLogger(__name__)

APP_TITLE = "CNN Studio"
STATS_INTERVAL_MS = 500

# QSettings keys, in one place so the tests and the README agree with the code.
KEY_GEOMETRY = "window/geometry"
KEY_STATE = "window/state"
KEY_SPLITTER = "window/splitter"
KEY_LAST_TAB = "window/last_tab"
KEY_LAST_SOURCE = "source/last"
KEY_MIRROR = "source/mirror"


def _output_dir(kind: str, standard: QStandardPaths.StandardLocation) -> Path:
    """Where snapshots/recordings go: the user's Pictures/Videos folder, or under
    ``$CNN_STUDIO_HOME`` when that is set (portable installs and tests stay self-contained)."""
    from engine.paths import HOME_ENV, home

    if os.environ.get(HOME_ENV, "").strip():
        folder = home() / kind
    else:
        base = QStandardPaths.writableLocation(standard)
        folder = Path(base) / APP_TITLE if base else home() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class MainWindow(QMainWindow):
    """CNN Studio's window. ``tabs``: override the feature tabs (tests); None loads the real ones."""

    def __init__(
        self,
        settings: "QSettings",
        device: "torch.device",
        source: str | None = None,
        tabs: Sequence[StudioTab] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.settings = settings
        self.device = device
        self.pipeline = LivePipeline(device, self)
        self.view = VideoView()
        self.context = AppContext(
            settings, device,
            status_sink=self.show_status,
            dialog_parent=self,
            latest_frame=self.latest_frame,
            video_view=self.view,
        )
        self._latest: Frame | None = None
        self._current_spec: str | None = None
        self._active: StudioTab | None = None
        self._recorder: VideoRecorder | None = None
        self._recording_started = 0.0
        self._display_errors = 0
        self._closing = False

        self.source_bar = SourceBar()
        self.tab_widget = QTabWidget()
        self.tab_widget.setObjectName("featureTabs")
        self.tab_widget.setDocumentMode(True)
        self.tabs: list[StudioTab] = list(tabs) if tabs is not None else load_tabs(self.context)
        for tab in self.tabs:
            # A scroll area per tab: a tall tab must not force a minimum window height.
            scroll = QScrollArea()
            scroll.setObjectName(f"tabScroll{self.tab_widget.count()}")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(tab)
            self.tab_widget.addTab(scroll, tab.title)
            tab.task_changed.connect(lambda t=tab: self._on_task_changed(t))
            tab.settings_changed.connect(lambda t=tab: self._on_settings_changed(t))
            tab.status_message.connect(self.show_status)
        self.perf_plot = PerfPlot()
        self._build_layout()
        self._build_status_bar()
        self._build_menus()
        self._connect_pipeline()
        self._restore_settings()

        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(STATS_INTERVAL_MS)
        self._stats_timer.timeout.connect(self._update_stats)
        self._stats_timer.start()

        self.tab_widget.currentChanged.connect(self._activate_tab)
        self._activate_tab(self.tab_widget.currentIndex())
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
        # The tab column is never narrower than its widest tab (plus a vertical
        # scrollbar): tall tabs scroll, wide ones must not.
        scrollbar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        widest = max((tab.minimumSizeHint().width() for tab in self.tabs), default=300)
        self.tab_widget.setMinimumWidth(widest + scrollbar + 8)
        self.splitter.setSizes([860, max(420, widest + scrollbar + 8)])
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

    def _build_status_bar(self) -> None:
        from engine.device import device_label

        bar = self.statusBar()
        self.device_label = QLabel(device_label(self.device))
        self.device_label.setToolTip("Where the models run (set with --device or CNN_STUDIO_DEVICE)")
        self.capture_label = QLabel("capture – fps")
        self.inference_label = QLabel("inference – fps")
        self.latency_label = QLabel("latency – ms")
        self.dropped_label = QLabel("dropped 0")
        self.dropped_label.setToolTip("Frames the model skipped because it was still busy (by design: it always takes the newest)")
        self.record_label = QLabel("")
        self.record_label.setStyleSheet("color: #e04040; font-weight: bold;")
        for label in (self.record_label, self.capture_label, self.inference_label, self.latency_label,
                      self.dropped_label, self.device_label):
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self._action(file_menu, "Open &file…", self.source_bar.choose_file, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open f&older…", self.source_bar.choose_folder, "Ctrl+Shift+O")
        self._action(file_menu, "&Demo source", lambda: self.open_source("demo"))
        file_menu.addSeparator()
        self._action(file_menu, "&Snapshot", self.snapshot, "Ctrl+S")
        self.record_action = self._action(file_menu, "&Record video", self.toggle_recording, "Ctrl+R")
        self.record_action.setCheckable(True)
        self._action(file_menu, "Open snapshots folder", lambda: self._open_folder(self.snapshot_dir()))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = menu.addMenu("&View")
        self.run_action = self._action(view_menu, "Start / stop video", self.toggle_running, "Space")
        self.fullscreen_action = self._action(view_menu, "&Full screen", self.toggle_full_screen, "F11")
        self.fullscreen_action.setCheckable(True)
        self.perf_action = self.perf_dock.toggleViewAction()
        self.perf_action.setText("&Performance panel")
        self.perf_action.setShortcut(QKeySequence("Ctrl+P"))
        view_menu.addAction(self.perf_action)
        view_menu.addSeparator()
        self.tab_actions: list[QAction] = []
        for index, tab in enumerate(self.tabs[:9]):
            action = self._action(view_menu, tab.title, lambda i=index: self.tab_widget.setCurrentIndex(i),
                                  f"Ctrl+{index + 1}")
            self.tab_actions.append(action)

        models_menu = menu.addMenu("&Models")
        self._action(models_menu, "&Model manager…", self.open_model_manager, "Ctrl+M")
        help_menu = menu.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_shortcuts)
        self._action(help_menu, "&About CNN Studio", self.show_about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            # Window-wide, so shortcuts work whichever child has focus (and in full screen).
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda checked=False: slot())
        menu.addAction(action)
        self.addAction(action)  # keeps shortcuts alive when the menu bar is hidden
        return action

    def _connect_pipeline(self) -> None:
        self.pipeline.frame_ready.connect(self._on_frame)
        self.pipeline.result_ready.connect(self._on_result)
        self.pipeline.source_event.connect(self._on_source_event)
        self.pipeline.worker_event.connect(self._on_worker_event)

    # -- settings ------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value(KEY_GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = self.settings.value(KEY_STATE)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        splitter = self.settings.value(KEY_SPLITTER)
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        last_tab = read_int(self.settings, KEY_LAST_TAB, 0)
        if 0 <= last_tab < self.tab_widget.count():
            self.tab_widget.setCurrentIndex(last_tab)
        mirror = read_bool(self.settings, KEY_MIRROR, False)
        self.pipeline.set_mirror(mirror)
        self.source_bar.set_mirror(mirror)

    def save_settings(self) -> None:
        self.settings.setValue(KEY_GEOMETRY, self.saveGeometry())
        self.settings.setValue(KEY_STATE, self.saveState())
        self.settings.setValue(KEY_SPLITTER, self.splitter.saveState())
        self.settings.setValue(KEY_LAST_TAB, self.tab_widget.currentIndex())
        self.settings.setValue(KEY_MIRROR, self.pipeline.mirror)
        if self._current_spec is not None:
            self.settings.setValue(KEY_LAST_SOURCE, self._current_spec)
        self.settings.sync()

    # -- sources -------------------------------------------------------------------------
    def open_initial_source(self, requested: str | None) -> None:
        """``--source`` if given (demo if it fails); else the last source if it still works,
        else the first camera, else the demo."""
        if self._closing:
            return
        if requested:
            self.open_source(requested)
            return
        candidates: list[str] = []
        last = self.settings.value(KEY_LAST_SOURCE)
        if isinstance(last, str) and last.strip():
            candidates.append(last)
        candidates.extend(self.source_bar.camera_specs()[:1])
        for spec in candidates:
            if self.open_source(spec, report=False):
                return
            log.info("previous source %r is not available any more", spec)
        self.open_source("demo")

    def open_source(self, spec: str, report: bool = True) -> bool:
        """Start the source named by ``spec``; True on success.

        On failure the user is told what went wrong (when ``report``) and the demo runs
        instead, so the window never ends up empty.
        """
        from engine.sources import SourceError

        spec = str(spec).strip()
        try:
            source = self.pipeline.open(spec)
        except SourceError as exc:
            return self._source_failed(spec, str(exc), report)
        except Exception as exc:  # an unexpected driver/codec failure is still just a bad source
            log.exception("opening %s failed", spec)
            return self._source_failed(spec, f"{spec}: {type(exc).__name__}: {exc}", report)
        self._current_spec = spec
        self.view.set_banner(None)
        self.settings.setValue(KEY_LAST_SOURCE, spec)
        self.source_bar.set_source_name(source.name)
        self.source_bar.set_running(True)
        self.view.set_message(f"Waiting for {source.name}…")
        self.show_status(f"Showing {source.name}")
        return True

    def _source_failed(self, spec: str, message: str, report: bool) -> bool:
        if report:
            fallback = "" if spec == "demo" else "\n\nShowing the demo source instead."
            self.context.error("Cannot open the video source", message + fallback)
        if spec != "demo" and report:
            self.open_source("demo", report=True)
        elif spec == "demo":
            self.view.clear(f"No video.\n{message}")
            self.source_bar.set_running(False)
        return False

    def toggle_running(self) -> None:
        """Space: stop the running source, or start the last one again."""
        if self.pipeline.running:
            self.pipeline.stop_source()
            self.source_bar.set_running(False)
            self.show_status("Stopped — press Space to start again")
        else:
            self.open_source(self._current_spec or "demo")

    def set_mirror(self, mirror: bool) -> None:
        self.pipeline.set_mirror(mirror)
        self.source_bar.set_mirror(mirror)
        self.settings.setValue(KEY_MIRROR, mirror)

    def latest_frame(self) -> "Frame | None":
        return self._latest

    # -- frames and results (GUI thread) ---------------------------------------------------
    @Slot(object)
    def _on_frame(self, frame: "Frame") -> None:
        self._latest = frame
        image = frame.image
        tab = self._active
        if tab is not None:
            try:
                shown = tab.display_image(frame)
            except Exception:
                shown = None
                self._display_errors += 1
                if self._display_errors == 1:
                    log.exception("%s.display_image failed; showing the camera frame", tab.title)
            if shown is not None:
                image = shown
        try:
            self.view.show_image(image)
        except ValueError as exc:  # a tab returned something that is not a BGR image
            self._display_errors += 1
            if self._display_errors == 1:
                log.error("cannot show the image: %s", exc)
            self.view.show_image(frame.image)
        if self._recorder is not None:
            self._record_current()

    @Slot(object)
    def _on_result(self, result) -> None:
        tab = self._active
        if tab is None:
            return
        try:
            tab.on_result(result)
        except Exception:
            log.exception("%s.on_result failed", tab.title)
        self.view.update()

    @Slot(object)
    def _on_source_event(self, event) -> None:
        kind, message = event.kind, event.message
        if kind in ("disconnected", "reconnecting"):
            self.view.set_message("Camera lost — reconnecting…")
            self.view.set_banner("Camera lost — reconnecting…  (check the cable, or pick another source)")
            self.show_status(f"{message or 'camera lost'} — reconnecting…", 0)
        elif kind == "reconnected":
            self.view.set_banner(None)
            self.show_status(f"{message}: reconnected")
        elif kind == "skipped":
            self.show_status(f"Skipped {message}")
        elif kind == "ended":
            self.source_bar.set_running(False)
            self.show_status(f"{message} — press Space to play again")
        elif kind == "error":
            self.context.error("The video source failed", f"{message}\n\nShowing the demo source instead.")
            if self._current_spec != "demo":
                self.open_source("demo")

    @Slot(object)
    def _on_worker_event(self, event) -> None:
        if event.kind == "load_error":
            self.context.error("The model could not be loaded", event.message)
        elif event.kind == "frame_error":
            self.show_status(event.message)
        elif event.kind in ("loading", "ready"):
            self.show_status(event.message)

    # -- tabs --------------------------------------------------------------------------------
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
        if tab is self._active:
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

    def _paint_active_overlay(self, painter: QPainter, width: int, height: int) -> None:
        if self._active is not None:
            self._active.paint_overlay(painter, width, height)

    @property
    def active_tab(self) -> StudioTab | None:
        return self._active

    # -- status --------------------------------------------------------------------------------
    def show_status(self, message: str, timeout_ms: int = 6000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    @Slot()
    def _update_stats(self) -> None:
        stats = self.pipeline.stats()
        self.capture_label.setText(f"capture {stats.capture_fps:4.1f} fps")
        self.inference_label.setText(f"inference {stats.inference_fps:4.1f} fps")
        self.latency_label.setText("latency – ms" if stats.latency_ms is None else f"latency {stats.latency_ms:4.0f} ms")
        self.dropped_label.setText(f"dropped {stats.dropped}")
        self.perf_plot.add_sample(stats.capture_fps, stats.inference_fps, stats.latency_ms)
        if self._recorder is not None:
            elapsed = int(time.monotonic() - self._recording_started)
            self.record_label.setText(f"● REC {elapsed // 60:02d}:{elapsed % 60:02d}")
            if self._recorder.error:
                error = self._recorder.error
                self.stop_recording()
                self.context.error("Recording stopped", error)

    # -- snapshot and recording ----------------------------------------------------------------
    def snapshot_dir(self) -> Path:
        return _output_dir("snapshots", QStandardPaths.StandardLocation.PicturesLocation)

    def recording_dir(self) -> Path:
        return _output_dir("recordings", QStandardPaths.StandardLocation.MoviesLocation)

    def snapshot(self, path: str | Path | None = None) -> Path | None:
        """Save what is shown (picture + overlays, frame resolution) as a PNG; returns the path."""
        image = self.view.render_composited()
        if image is None:
            self.show_status("Nothing to save yet: no picture is shown")
            return None
        target = Path(path) if path is not None else self.snapshot_dir() / time.strftime("snapshot-%Y%m%d-%H%M%S.png")
        if path is None:
            target = _unique(target)
        ok, encoded = cv2.imencode(".png", image)
        try:
            if not ok:
                raise OSError("PNG encoding failed")
            encoded.tofile(str(target))  # tofile: also fine with non-ASCII paths
        except OSError as exc:
            self.context.error("Snapshot not saved", f"{target}: {exc}")
            return None
        self.show_status(f"Snapshot saved: {target}")
        return target

    def toggle_recording(self) -> None:
        if self._recorder is None:
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self, path: str | Path | None = None) -> Path | None:
        """Record what is shown to a video (.mp4 by default) until ``stop_recording``."""
        from engine.recorder import VideoRecorder

        if self._recorder is not None:
            return self._recorder.path
        target = Path(path) if path is not None else _unique(
            self.recording_dir() / time.strftime("recording-%Y%m%d-%H%M%S.mp4"))
        source = self.pipeline.source
        fps = source.fps if source is not None else 30.0
        try:
            self._recorder = VideoRecorder(target, fps=fps)
        except Exception as exc:
            self.record_action.setChecked(False)
            self.context.error("Cannot record", str(exc))
            return None
        self._recording_started = time.monotonic()
        self.record_action.setChecked(True)
        self.record_label.setText("● REC 00:00")
        self.show_status(f"Recording to {target} — Ctrl+R to stop")
        return target

    def stop_recording(self) -> Path | None:
        """Finish the recording (flushes the file); returns its path."""
        recorder, self._recorder = self._recorder, None
        self.record_action.setChecked(False)
        self.record_label.setText("")
        if recorder is None:
            return None
        recorder.close()
        dropped = f", {recorder.frames_dropped} dropped" if recorder.frames_dropped else ""
        self.show_status(f"Recording saved: {recorder.path} ({recorder.frames_written} frames{dropped})")
        return recorder.path

    def _record_current(self) -> None:
        image = self.view.render_composited()
        if image is not None and self._recorder is not None:
            self._recorder.write(image)

    # -- other actions ---------------------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

    def open_model_manager(self) -> None:
        from gui.widgets.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self.context.weights_cache, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        # A tab waiting for weights can start as soon as they are installed.
        dialog.models_changed.connect(lambda: self._apply_task(self._active))
        dialog.open()

    def show_about(self) -> None:
        from engine.device import device_label

        box = QMessageBox(QMessageBox.Icon.Information, "About CNN Studio",
                          "<b>CNN Studio</b><br>See convolutional networks work on a live camera: "
                          "object detection, face recognition, style transfer and feature maps."
                          f"<br><br>Models run on: {device_label(self.device)}",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{key}</b></td><td>&nbsp;&nbsp;{what}</td></tr>" for key, what in SHORTCUTS)
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _open_folder(self, folder: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- shutdown ----------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save settings, stop recording, the source, the worker and every tab (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._stats_timer.stop()
        self.save_settings()
        self.stop_recording()
        self.pipeline.shutdown()
        for tab in self.tabs:
            try:
                tab.shutdown()
            except Exception:
                log.exception("%s.shutdown failed", tab.title)
        self.context.shutdown()


SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "start / stop the video"),
    ("Ctrl+1 … Ctrl+5", "Detect, Faces, Style, Feature maps, Teach"),
    ("Ctrl+S", "snapshot of what is shown (PNG)"),
    ("Ctrl+R", "start / stop recording what is shown"),
    ("F11", "full screen"),
    ("Ctrl+P", "performance panel"),
    ("Ctrl+M", "model manager"),
    ("Ctrl+O / Ctrl+Shift+O", "open a file / a folder"),
    ("Ctrl+Q", "quit"),
)


def _unique(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``… if it exists (two snapshots in one second)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
