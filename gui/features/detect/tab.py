"""The Detect tab: live object detection, tracking and counting (a view over DetectController).

Left panel: the model box (catalog picker, Download / Import file…), live settings
(confidence, NMS IoU, input size, precision, the grid view, tracking, heat map: each shown
as the selected model's catalog capabilities allow), the
class filter, what is in view, counting lines and zones with their counts table, and the
export of detections and counting events. Below: results per second and latency, and the
counts over time. Boxes, tracks, lines, zones and the heat map are painted over the video
by ``paint_overlay``.

State and commands live in ``engine.features.detect.controller`` (no Qt); the live
settings reach the worker as one ``DetectSettings`` snapshot (``task_settings``).
Recording is the main window's (it records what the view shows).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.features.detect.controller import DetectController
from engine.features.detect.device_precisions import device_precisions
from gui.common.list_rows import set_row_texts
from gui.common.tab_base import StudioTab
from gui.features.detect.classes import ClassFilter, CountsList
from gui.features.detect.course_view import draw_proposals, has_set_view, paint_set_view
from gui.features.detect.exports import DetectExports
from gui.features.detect.installer import ModelInstaller
from gui.features.detect.model_box import DetectModelBox
from gui.features.detect.overlay import draw_detections, grid_key, paint_banner, paint_grid, paint_hidden_note
from gui.features.detect.plots import CountsPlot, RatePlot
from gui.features.detect.regions import RegionsBox
from gui.features.detect.scene import BlendLayer, HeatLayer, draw_region_captions, draw_tracks, draw_trails, grid_layer, paint_regions
from gui.features.detect.sections import Section, remember_folding
from gui.features.detect.settings_box import SettingsBox

log = logging.getLogger(__name__)

REFRESH_MS = 250  # lists, table, plots and the heat image: a few times a second, not per frame


class DetectTab(StudioTab):
    title = "Detect"

    def __init__(self, context, parent: QWidget | None = None, entries=None) -> None:
        super().__init__(context, parent)
        if entries is None:
            from engine.models.catalog import catalog
            entries = catalog().entries("detect")
        self.controller = DetectController(entries, context.store, device_precisions=device_precisions(context.device))
        self.exports = DetectExports(context, self.controller, self)
        self.entries = self.controller.entries
        self._installed = False
        self._dirty = False
        self._grid_text = ""
        self._hidden = 0  # captions the last raster overlay left out (for the "+N hidden" note)
        self.heat_layer = HeatLayer()
        self.grid_layer = BlendLayer()
        self._last_sample = 0.0
        self._build()
        self.installer = ModelInstaller(context, self.model_box, lambda: self.controller.entry, self)
        self.installer.state_changed.connect(self._refresh_model_state)
        self.installer.installed.connect(self._on_installed)
        self.runner, self.download = self.installer.runner, self.installer.download
        box = self.model_box  # the buttons by their usual names, for scripts and tests
        self.download_button, self.import_button, self.progress = box.download_button, box.import_button, box.progress
        self._refresh_model_state()
        self._show_regions()
        self._follow_controller()
        if self.controller.startup_note:
            self.context.status(self.controller.startup_note)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh_views)
        self.timer.start()
        if context.video_view is not None:
            context.video_view.frame_clicked.connect(self.on_frame_clicked)

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        c = self.controller
        self.model_box = DetectModelBox(self.entries, is_installed=self.context.weights_cache.is_installed)
        self.model_box.combo.setCurrentIndex(c.index)
        self.model_box.combo.currentIndexChanged.connect(c.select_model)
        self.model_box.model_path_chosen.connect(self.open_user_model)
        s = self.settings_box = SettingsBox(c)
        s.conf_slider.valueChanged.connect(self._on_thresholds)
        s.iou_slider.valueChanged.connect(self._on_thresholds)
        s.size_combo.lineEdit().editingFinished.connect(self._on_size)
        s.size_combo.activated.connect(lambda _i: self._on_size())
        s.precision_combo.currentIndexChanged.connect(lambda _i: c.set_precision(s.precision))
        s.grid_check.toggled.connect(self._on_grid_toggled)
        s.track_check.toggled.connect(c.set_tracking)
        s.heat_check.toggled.connect(lambda on: self._on_heat(on))
        s.heat_minutes.valueChanged.connect(lambda _v: self._on_heat(s.heat_check.isChecked()))
        self.class_filter = ClassFilter()
        self.class_filter.changed.connect(c.set_class_filter)
        self.counts = CountsList()
        self.detection_list = QListWidget()
        self.detection_list.setObjectName("detectDetections")
        self.detection_list.currentRowChanged.connect(self._on_detection_selected)
        view_box = QWidget()
        view_layout = QVBoxLayout(view_box)
        view_layout.setContentsMargins(0, 0, 0, 0)
        view_layout.addWidget(self.counts)
        view_layout.addWidget(self.detection_list)
        r = self.regions_box = RegionsBox()
        r.line_button.clicked.connect(lambda: self._begin("line"))
        r.zone_button.clicked.connect(lambda: self._begin("zone"))
        r.finish_button.clicked.connect(c.finish_zone)
        r.rename_requested.connect(self.controller.rename)
        r.delete_requested.connect(self.controller.delete)
        r.export_button.clicked.connect(lambda: self.exports.choose_events_file())
        self.export_button = self.exports.session_button()
        out_box = QWidget()
        out_layout = QHBoxLayout(out_box)
        out_layout.setContentsMargins(0, 0, 0, 0)
        out_layout.addWidget(self.export_button)
        self.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, context=Qt.ShortcutContext.ApplicationShortcut)
        self.escape.setEnabled(False)
        self.escape.activated.connect(c.cancel_drawing)

        # Collapsible sections, the counting tools right under the settings and the 80-row
        # class list folded away: at the default window size Draw line needs no scrolling.
        s.setTitle("")
        r.setTitle("")
        self.sections = {
            "settings": Section("Settings", s),
            "counting": Section("Counting lines and zones", r),
            "view": Section("In view", view_box),
            "classes": Section("Classes (filter)", self.class_filter, expanded=False),
            "output": Section("Output", out_box),
        }
        panel = QWidget()
        panel_layout = QVBoxLayout(panel)
        panel_layout.addWidget(self.model_box)
        remember_folding(self.sections, self.context.store, "Detect/section")
        for section in self.sections.values():
            panel_layout.addWidget(section)
        panel_layout.addStretch(1)
        scroll = self.panel_scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(panel)
        # Ask for the panel's full width: a horizontal scroll bar would hide the values.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(panel.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        self.perf = RatePlot()
        self.counts_plot = CountsPlot()
        self.plots = QTabWidget()
        self.plots.addTab(self.perf, "Speed")
        self.plots.addTab(self.counts_plot, "Counts over time")
        self.plots.setMinimumHeight(150)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([600, 160])  # the panel gets the height; the plots keep a readable strip
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # -- controller -> view ------------------------------------------------------------------
    def _follow_controller(self) -> None:
        c = self.controller
        self.listen(c.task_changed, self._on_model_changed)  # the views follow before the window rebuilds the task
        self.listen(c.regions_changed, self._on_regions_changed)
        self.follow(c)
        # e.g. tracking off: its boxes go now, not at the next frame
        self.listen(c.settings_changed, lambda _none: self.context.request_repaint())

    def _on_model_changed(self, _none=None) -> None:
        self.model_box.show_problem("")  # it was about the model that did not open
        self._clear_views()
        self._refresh_model_state()

    def _on_regions_changed(self, _none=None) -> None:
        self._show_regions()
        self.context.request_repaint()

    def _show_regions(self) -> None:
        c = self.controller
        self.regions_box.set_regions(c.regions, c.draft.kind if c.draft else None)
        self.escape.setEnabled(c.draft is not None)
        self._dirty = True

    # -- model state ---------------------------------------------------------------------------
    @property
    def entry(self):
        return self.controller.entry

    def is_installed(self) -> bool:
        """Whether the selected model's weights are in the cache (checked on the disk)."""
        entry = self.entry
        return entry is not None and self.context.weights_cache.is_installed(entry)

    def _refresh_model_state(self) -> None:
        entry, box = self.entry, self.model_box
        if entry is None:
            box.state.setText("No detection models in the catalog.")
            return
        installed = self._installed = self.is_installed()  # paint_overlay runs per frame: no disk access there
        busy = self.installer.download.busy if hasattr(self, "installer") else False
        box.show_install_state(entry, installed, busy)
        self.settings_box.set_model_capabilities(self.controller)
        names = self.controller.class_names()
        if getattr(self, "_class_names", None) != names:  # keep the user's filter when only the install state changed
            self._class_names = names
            self.class_filter.set_classes(names)
        self.context.request_repaint()  # the banner and the boxes follow the model and its install state

    def open_user_model(self, path: str, names: str | None = None) -> bool:
        """Open your own model (a model folder or a YOLOX .pth) and run it live; a names
        file is asked for when a .pth needs one. A bad one: one line here and in the status
        bar, and the model that was running keeps running."""
        from engine.core.errors import UserError
        from engine.features.detect.user_models import NamesNeeded

        try:
            self.controller.open_user_model(path, names)
        except NamesNeeded as exc:
            chosen = self.model_box.ask_names(exc.classes) if names is None else ""
            if chosen:
                return self.open_user_model(path, chosen)
            return self._model_problem(path, exc)
        except (UserError, OSError) as exc:
            return self._model_problem(path, exc)
        self.model_box.show_problem("")
        self._sync_model_combo()
        return True

    def _sync_model_combo(self) -> None:
        """The model list shows the controller's entries and selection (your own models are
        added to the end); the controller has already selected, so no signal goes back."""
        self.model_box.show_entries(self.controller.entries, self.controller.index)

    def _model_problem(self, path: str, exc: BaseException) -> bool:
        text = f"Could not open {Path(path).name}: {exc}"
        self.model_box.show_problem(text)
        self.context.status(text)
        return False

    def download_selected(self) -> None:
        self.installer.download_selected()

    def import_weights(self, path: str | Path) -> bool:
        return self.installer.import_weights(path)

    def _on_installed(self, entry) -> None:
        if entry is self.entry:
            self.task_changed.emit()

    # -- the live task -------------------------------------------------------------------------
    def make_task(self):
        return self.controller.make_task(self.context.weights_cache)

    def task_settings(self):
        return self.controller.settings()

    def _on_thresholds(self) -> None:
        self.settings_box.show_values()
        self.controller.set_thresholds(self.settings_box.conf, self.settings_box.iou)

    def _on_size(self) -> None:
        """Take the typed size; a size the model refuses leaves the field showing the size
        that runs (the status bar says why), never the refused text."""
        combo = self.settings_box.size_combo
        if not self.controller.set_size(combo.currentText()) and self.controller.effective_size is not None:
            width, height = self.controller.effective_size
            combo.blockSignals(True)
            combo.setCurrentText(f"{width}x{height}")
            combo.blockSignals(False)

    def _on_grid_toggled(self, on: bool) -> None:
        self.controller.set_grid(on)
        if not on:  # the explanation belongs to the grid: it goes with it
            self._grid_text = ""
            self.settings_box.grid_label.clear()
        self._dirty = True
        self.context.request_repaint()

    def _on_heat(self, on: bool) -> None:
        self.controller.set_heat(on, self.settings_box.heat_minutes.value())
        self.heat_layer.set_heat(None)
        self._dirty = True
        self.context.request_repaint()

    # -- results ---------------------------------------------------------------------------------
    def on_result(self, result) -> None:
        if not self.controller.on_result(result):
            return
        self._dirty = True
        now = time.monotonic()
        if now - self._last_sample >= 0.5:  # two plot samples a second are plenty
            self._last_sample = now
            self.perf.add_sample(self.controller.result_rate, result.timings.latency_ms, now)

    def refresh_views(self) -> None:
        """Lists, table, plots and heat image from the controller's state (timer, ~4 Hz)."""
        if not self._dirty:
            return
        self._dirty = False
        c, d = self.controller, self.controller.detections
        self.regions_box.set_rows(c.count_rows())
        if self.plots.currentWidget() is self.perf:
            self.perf.redraw()
        elif self.isVisible():
            self.counts_plot.set_series(c.counts_series())
        self.heat_layer.set_heat(c.heat_image())
        self._show_grid_text()
        if d is None:
            return
        self.counts.set_counts(d.counts(), {n: i for i, n in enumerate(d.class_names)})
        texts = [f"{label} {score:.2f}  [{x1}, {y1}, {x2}, {y2}]"
                 for label, score, (x1, y1, x2, y2) in zip(d.labels, d.scores.tolist(),
                                                           np.rint(d.boxes).astype(int).tolist())]
        lst = self.detection_list
        lst.blockSignals(True)
        set_row_texts(lst, texts)
        wanted = -1 if c.selected is None else c.selected
        if wanted != lst.currentRow():
            lst.setCurrentRow(wanted)
        lst.blockSignals(False)

    def _show_grid_text(self) -> None:
        """The grid's explanation of the selected box, at the views' pace: set per paint, a
        word-wrapped label re-laid out the whole panel at frame rate (a GUI-thread cost the
        model paid)."""
        text = self._grid_text if self.controller.grid_shown else ""
        if self.settings_box.grid_label.text() != text:
            self.settings_box.grid_label.setText(text)

    def _clear_views(self) -> None:
        self.counts.clear()
        self.detection_list.clear()
        self.perf.clear()
        self.heat_layer.set_heat(None)

    def _on_detection_selected(self, row: int) -> None:
        self.controller.select_row(row)
        self._dirty = True  # the grid's explanation follows at the next refresh
        self.context.request_repaint()

    @property
    def detections(self):
        return self.controller.detections

    @property
    def selected(self):
        return self.controller.selected

    def select_at(self, x: float, y: float) -> None:
        row = self.controller.select_at(x, y)
        if row is not None:
            self._dirty = True
            self.detection_list.setCurrentRow(row)
            self.context.request_repaint()  # also when the list's row was already this one

    def on_frame_clicked(self, x: float, y: float) -> None:
        """A click on the video: a corner of the line/zone being drawn, else a selection."""
        if not self.isVisible() and self.controller.draft is None:
            return
        if not self.controller.click(x, y):
            self.select_at(x, y)

    def raster_overlay(self, canvas, scale: float, frame_width: int, frame_height: int) -> None:
        """Boxes and captions, drawn into the picture (they change with every result)."""
        c = self.controller
        d = c.detections
        self._hidden = 0
        if not self._installed:
            return
        if d is not None:
            self.heat_layer.draw(canvas)
            key = grid_key(d) if c.grid_shown else None
            if key is not None:
                self.grid_layer.draw(canvas, key, lambda w, h: grid_layer(d, frame_width, w, h))
            elif c.grid_shown and has_set_view(d):
                draw_proposals(canvas, d, scale)
        draw_region_captions(canvas, scale, c.regions, c.tracked.counts if c.tracked else None,
                             frame_width, frame_height)
        if d is None:
            return
        if c.tracked is not None:
            draw_trails(canvas, scale, c.tracked, frame_width, frame_height)
            self._hidden = draw_tracks(canvas, scale, c.tracked, d.class_names, frame_width, frame_height,
                                       c.selected_track_row())
        else:
            self._hidden = draw_detections(canvas, scale, d, frame_width, frame_height, c.selected)

    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        c = self.controller
        if not self._installed:
            paint_banner(painter, frame_width, frame_height,
                               f"Detect: {self.entry.name if self.entry else 'no model'} is not installed — "
                               "use Download or Import file… in the Detect panel")
            return
        d = c.detections
        if d is not None and c.grid_shown and d.grids:
            self._grid_text = paint_grid(painter, d, c.selected, lines=False)  # the lines are in the picture
        elif d is not None and c.grid_shown and has_set_view(d):
            self._grid_text = paint_set_view(painter, d, c.selected)
        paint_regions(painter, c.regions, c.tracked.counts if c.tracked else None, frame_width, frame_height, c.draft)
        paint_hidden_note(painter, self._hidden, frame_width, frame_height)

    # -- lines and zones ------------------------------------------------------------------------
    def _begin(self, kind: str) -> None:
        if not self.controller.tracking:
            self.settings_box.track_check.setChecked(True)  # counting needs ids
        self.controller.begin(kind)

    # -- export -------------------------------------------------------------------------------------
    def export_detections(self, path: str | Path) -> bool:
        return self.exports.export_detections(path)

    def export_events(self, path: str | Path) -> bool:
        return self.exports.export_events(path)

    # -- life cycle -----------------------------------------------------------------------------------
    def activated(self) -> None:
        # Another tab may have handed a model over meanwhile (Teach's "Use in Detect").
        added = self.controller.refresh_user_models()
        if added:
            self._sync_model_combo()
            self.context.status(f"Your model{'s' if len(added) > 1 else ''} {', '.join(added)} "
                                f"{'are' if len(added) > 1 else 'is'} in the model list")
        # Weights may have been installed elsewhere (model manager, CLI) meanwhile.
        was = self._installed
        self._refresh_model_state()
        if self._installed != was:
            self.task_changed.emit()

    def shutdown(self) -> None:
        self.timer.stop()
        self.installer.shutdown()
        self.controller.close()
