"""The Detect tab: live object detection with YOLO (Darknet) or torchvision models.

Controls (left panel): model picker built from the catalog with download / import for
missing weights, confidence and IoU sliders, network input size, a searchable class
filter, live per-class counts and the current detections, the "show the grid" learner
view, export of the current detections (CSV/JSON), recording of annotated video, and a
plot of inference FPS and latency. The detections themselves are painted over the video
by ``paint_overlay``.

Threads: the detector runs in the worker (``DetectionTask``); thresholds, class filter
and input size are plain attributes of the running task, so changing them needs no
model reload. Downloads run through the shell's job runner.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSlider,
                               QSplitter, QVBoxLayout, QWidget)

from engine.detection.annotate import draw_detections
from engine.detection.export import save_detections
from engine.detection.types import Detections
from engine.weights.cache import human_size
from gui.tabs.base import StudioTab
from gui.widgets.detect_classes import ClassFilter, CountsList
from gui.widgets.detect_overlay import paint_detections, paint_grid
from gui.widgets.download_progress import DownloadJob, show_download_progress
from gui.widgets.perf_plot import PerfPlot

log = logging.getLogger(__name__)

SIZE_PRESETS = ("320x320", "416x416", "512x512", "608x608", "640x384", "384x640")
_KEY = "Detect/"


def parse_size(text: str) -> tuple[int, int] | None:
    """"416x416" -> (416, 416); None unless both are positive multiples of 32."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    w, h = int(parts[0]), int(parts[1])
    return (w, h) if w >= 32 and h >= 32 and w % 32 == 0 and h % 32 == 0 else None


class DetectTab(StudioTab):
    title = "Detect"

    def __init__(self, context, parent: QWidget | None = None, entries=None) -> None:
        super().__init__(context, parent)
        if entries is None:
            from engine.weights.catalog import catalog
            entries = catalog().entries("detect")
        self.entries = list(entries)
        self.detections: Detections | None = None
        self.selected: int | None = None
        self._task = None
        self._recorder = None
        self._last_result_time: float | None = None
        self._fps = 0.0
        self._grid_text = ""
        self._installed = False
        self.runner = context.job_runner("detect-download", self)
        self.download = DownloadJob(self.runner, self)  # its busy flag has no end-of-thread race
        self.download.progress.connect(self._on_download_progress)
        self.download.finished.connect(self._on_download_finished)
        self.download.failed.connect(self._on_download_failed)
        self.download.cancelled.connect(self._on_download_cancelled)
        self._build()
        self._restore_settings()
        self._refresh_model_state()
        if context.video_view is not None:
            context.video_view.frame_clicked.connect(self.select_at)

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        settings = self.context.settings
        # Model
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("detectModel")
        for entry in self.entries:
            self.model_combo.addItem(entry.title, entry.name)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.model_state = QLabel()
        self.model_state.setObjectName("detectModelState")
        self.model_state.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        self.import_button = QPushButton("Import file…")
        self.import_button.setToolTip("Install a weights file you already have (offline machines)")
        self.import_button.clicked.connect(self._choose_import_file)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        model_box = QGroupBox("Model")
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self.model_combo)
        model_layout.addWidget(self.model_state)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.import_button)
        model_layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        model_layout.addLayout(row)
        # Settings
        self.conf_slider, self.conf_label = self._slider(float(settings.value(_KEY + "conf", 0.25)))
        self.iou_slider, self.iou_label = self._slider(float(settings.value(_KEY + "iou", 0.45)))
        self.conf_slider.valueChanged.connect(self._on_thresholds)
        self.iou_slider.valueChanged.connect(self._on_thresholds)
        self.size_combo = QComboBox()
        self.size_combo.setEditable(True)
        self.size_combo.addItems(SIZE_PRESETS)
        self.size_combo.setToolTip("Network input width x height, multiples of 32. Larger finds smaller objects, slower.")
        self.size_combo.setCurrentText(str(settings.value(_KEY + "size", "416x416")))
        self.size_combo.lineEdit().editingFinished.connect(self._on_size)
        self.size_combo.activated.connect(lambda _i: self._on_size())
        self.grid_check = QCheckBox("Show the grid (YOLO)")
        self.grid_check.setToolTip("Each head's grid; select a detection to see the cell and anchor that produced it")
        self.grid_check.setChecked(str(settings.value(_KEY + "grid", "false")).lower() == "true")
        self.grid_check.toggled.connect(self._on_grid_toggled)
        from engine.detection.yolo import cpu_bf16_supported
        self.fast_check = QCheckBox("Fast CPU mode (bfloat16)")
        self.fast_check.setToolTip("About 1.8x faster on CPUs with AVX512-BF16/AMX; scores may differ by a few "
                                   "hundredths. Only for the CPU and YOLO models.")
        self._fast_possible = self.context.device.type == "cpu" and cpu_bf16_supported()
        self.fast_check.setChecked(self._fast_possible and str(settings.value(_KEY + "bf16", "false")).lower() == "true")
        self.fast_check.toggled.connect(self._on_fast_toggled)
        form_box = QGroupBox("Settings")
        form = QFormLayout(form_box)
        form.addRow("Confidence", self._with_label(self.conf_slider, self.conf_label))
        form.addRow("NMS IoU", self._with_label(self.iou_slider, self.iou_label))
        form.addRow("Input size", self.size_combo)
        form.addRow(self.fast_check)
        form.addRow(self.grid_check)
        self.grid_label = QLabel()
        self.grid_label.setWordWrap(True)
        self.grid_label.setObjectName("detectGridInfo")
        form.addRow(self.grid_label)
        # Classes / counts / detections
        self.class_filter = ClassFilter()
        self.class_filter.changed.connect(self._on_class_filter)
        self.counts = CountsList()
        self.detection_list = QListWidget()
        self.detection_list.setObjectName("detectDetections")
        self.detection_list.currentRowChanged.connect(self._on_detection_selected)
        classes_box = QGroupBox("Classes")
        QVBoxLayout(classes_box).addWidget(self.class_filter)
        counts_box = QGroupBox("In view")
        counts_layout = QVBoxLayout(counts_box)
        counts_layout.addWidget(self.counts)
        counts_layout.addWidget(self.detection_list)
        # Output
        self.export_button = QPushButton("Export detections…")
        self.export_button.clicked.connect(self._choose_export_file)
        self.record_button = QPushButton("Record annotated video…")
        self.record_button.setCheckable(True)
        self.record_button.clicked.connect(self._on_record_clicked)
        out_box = QGroupBox("Output")
        out_layout = QHBoxLayout(out_box)
        out_layout.addWidget(self.export_button)
        out_layout.addWidget(self.record_button)
        self.perf = PerfPlot()
        self.perf.setMinimumHeight(140)

        panel = QWidget()
        panel_layout = QVBoxLayout(panel)
        for widget in (model_box, form_box, classes_box, counts_box, out_box):
            panel_layout.addWidget(widget)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(panel)
        # Ask for the panel's full width: a horizontal scroll bar would hide the values.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(panel.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(self.perf)
        splitter.setStretchFactor(0, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    @staticmethod
    def _slider(value: float) -> tuple[QSlider, QLabel]:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(1, 99)
        slider.setValue(int(round(min(max(value, 0.01), 0.99) * 100)))
        return slider, QLabel(f"{slider.value() / 100:.2f}")

    @staticmethod
    def _with_label(slider: QSlider, label: QLabel) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(slider, 1)
        row.addWidget(label)
        return box

    def _restore_settings(self) -> None:
        name = str(self.context.settings.value(_KEY + "model", ""))
        index = self.model_combo.findData(name)
        if index < 0:
            default = next((i for i, e in enumerate(self.entries) if e.default), 0)
            index = default
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(index)
        self.model_combo.blockSignals(False)

    # -- model state ---------------------------------------------------------------------------
    @property
    def entry(self):
        return self.entries[self.model_combo.currentIndex()] if self.entries else None

    def is_installed(self) -> bool:
        """Whether the selected model's weights are in the cache (checked on the disk)."""
        entry = self.entry
        return entry is not None and self.context.weights_cache.is_installed(entry)

    def _refresh_model_state(self) -> None:
        entry = self.entry
        if entry is None:
            self.model_state.setText("No detection models in the catalog.")
            return
        installed = self.is_installed()
        self._installed = installed  # paint_overlay runs per frame: no disk access there
        busy = self.download.busy
        self.download_button.setEnabled(not installed and not busy)
        self.import_button.setEnabled(not busy)
        is_yolo = entry.extra.get("kind") == "darknet"
        self.size_combo.setEnabled(is_yolo)
        self.grid_check.setEnabled(is_yolo)
        self.fast_check.setEnabled(is_yolo and self._fast_possible)
        if installed:
            self.model_state.setText(f"{entry.description}\nLicense: {entry.license}")
        else:
            self.model_state.setText(
                f"<b>{entry.title} is not installed.</b> Click <b>Download</b> ({human_size(entry.size)}) or "
                f"<b>Import file…</b> if you already have <i>{entry.files[0].filename}</i>. "
                "Detection starts as soon as it is installed.")
        self._populate_classes()

    def _populate_classes(self) -> None:
        entry = self.entry
        if entry is None:
            return
        if entry.extra.get("kind") == "torchvision":
            from engine.detection.torchvision_detectors import coco91_names
            names = coco91_names()
        else:
            from engine.detection.names import bundled_path, read_names
            names = read_names(bundled_path(entry.extra.get("names", "coco.names")))
        if getattr(self, "_class_names", None) == names:
            return  # keep the user's filter when only the install state changed
        self._class_names = names
        self.class_filter.set_classes(names)

    def _on_model_changed(self, _index: int) -> None:
        entry = self.entry
        if entry is not None:
            self.context.settings.setValue(_KEY + "model", entry.name)
        self._clear_results()
        self._refresh_model_state()
        self.task_changed.emit()

    # -- download / import ------------------------------------------------------------------------
    def download_selected(self) -> None:
        entry = self.entry
        if entry is None or self.is_installed():
            return
        cache = self.context.weights_cache

        def job(control):
            return cache.fetch(entry, progress=control.report, cancel=control.cancel_event)

        self._download_entry = entry
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.download.start(job)
        self._refresh_model_state()
        self.status_message.emit(f"Downloading {entry.name}…")

    def _on_download_progress(self, done: int, total, filename: str) -> None:
        show_download_progress(self.progress, done, total, filename)

    def _end_download(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._refresh_model_state()

    def _on_download_finished(self, _paths) -> None:
        self._end_download()
        self.context.status(f"{self._download_entry.name} installed")
        if self.entry is self._download_entry:
            self.task_changed.emit()

    def _on_download_failed(self, message: str) -> None:
        self._end_download()
        self.context.error("Download failed", message)

    def _on_download_cancelled(self) -> None:
        self._end_download()
        self.context.status("Download cancelled; nothing was installed")

    def _choose_import_file(self) -> None:
        entry = self.entry
        if entry is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Import weights for {entry.name}", "",
                                              f"{entry.files[0].filename} (*{Path(entry.files[0].filename).suffix});;All files (*)")
        if path:
            self.import_weights(path)

    def import_weights(self, path: str | Path) -> bool:
        """Install ``path`` as the selected model's weights; errors go to the status bar/dialog."""
        entry = self.entry
        if entry is None:
            return False
        from engine.weights.cache import WeightsError
        try:
            self.context.weights_cache.import_file(entry, path, force=True)
        except (WeightsError, ValueError, OSError) as exc:
            self.context.error("Import failed", str(exc))
            return False
        self.context.status(f"{entry.name} installed from {Path(path).name}")
        self._refresh_model_state()
        self.task_changed.emit()
        return True

    # -- the live task ---------------------------------------------------------------------------
    def make_task(self):
        entry = self.entry
        if entry is None or not self.is_installed():
            self._task = None
            return None
        from engine.detection.factory import load_detector
        from engine.detection.task import DetectionTask

        cache = self.context.weights_cache
        name = entry.name
        size = parse_size(self.size_combo.currentText()) if entry.extra.get("kind") == "darknet" else None

        bf16 = self.fast_check.isChecked() and self.fast_check.isEnabled()

        def factory(device):
            return load_detector(name, cache=cache, device=device, bf16=bf16)

        self._task = DetectionTask(factory, name=f"detect:{name}", conf_threshold=self.conf,
                                   iou_threshold=self.iou, class_filter=self.class_filter.selected(),
                                   input_size=size)
        return self._task

    @property
    def conf(self) -> float:
        return self.conf_slider.value() / 100.0

    @property
    def iou(self) -> float:
        return self.iou_slider.value() / 100.0

    def _on_thresholds(self) -> None:
        self.conf_label.setText(f"{self.conf:.2f}")
        self.iou_label.setText(f"{self.iou:.2f}")
        self.context.settings.setValue(_KEY + "conf", self.conf)
        self.context.settings.setValue(_KEY + "iou", self.iou)
        if self._task is not None:
            self._task.conf_threshold = self.conf
            self._task.iou_threshold = self.iou

    def _on_size(self) -> None:
        size = parse_size(self.size_combo.currentText())
        if size is None:
            self.context.status(f"Input size '{self.size_combo.currentText()}' is not valid: use WIDTHxHEIGHT, "
                                "multiples of 32 (e.g. 416x416)")
            return
        self.context.settings.setValue(_KEY + "size", f"{size[0]}x{size[1]}")
        if self._task is not None:
            self._task.input_size = size

    def _on_class_filter(self, selected) -> None:
        if self._task is not None:
            self._task.class_filter = selected
        if selected is not None and not selected:
            self.status_message.emit("No class is selected: nothing will be detected")

    def _on_fast_toggled(self, on: bool) -> None:
        self.context.settings.setValue(_KEY + "bf16", on)
        self.task_changed.emit()  # a new precision means a new model on the worker

    def _on_grid_toggled(self, on: bool) -> None:
        self.context.settings.setValue(_KEY + "grid", on)
        if on and self.selected is None and self.detections is not None and len(self.detections):
            self.detection_list.setCurrentRow(0)
        self.context.request_repaint()

    # -- results -----------------------------------------------------------------------------------
    def on_result(self, result) -> None:
        detections = result.result
        if not isinstance(detections, Detections):
            return
        self.detections = detections
        names = detections.class_names
        self.counts.set_counts(detections.counts(), {n: i for i, n in enumerate(names)})
        previous = self.selected
        self.detection_list.blockSignals(True)
        self.detection_list.clear()
        for label, score, box in zip(detections.labels, detections.scores, detections.boxes):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            self.detection_list.addItem(QListWidgetItem(f"{label} {score:.2f}  [{x1}, {y1}, {x2}, {y2}]"))
        self.selected = previous if previous is not None and previous < len(detections) else (
            0 if self.grid_check.isChecked() and len(detections) else None)
        if self.selected is not None:
            self.detection_list.setCurrentRow(self.selected)
        self.detection_list.blockSignals(False)
        now = time.monotonic()
        if self._last_result_time is not None:
            dt = now - self._last_result_time
            if dt > 0:
                self._fps = 0.8 * self._fps + 0.2 * (1.0 / dt) if self._fps else 1.0 / dt
        self._last_result_time = now
        timings = result.timings
        self.perf.add_sample(self._fps, 1000.0 / timings.total_ms if timings.total_ms > 0 else 0.0, timings.latency_ms)
        if self._recorder is not None:
            self._recorder.write(draw_detections(result.frame.image, detections))

    def _clear_results(self) -> None:
        self.detections = None
        self.selected = None
        self.counts.clear()
        self.detection_list.clear()
        self.perf.clear()
        self._last_result_time, self._fps = None, 0.0

    def _on_detection_selected(self, row: int) -> None:
        self.selected = row if row >= 0 else None
        self.context.request_repaint()

    def select_at(self, x: float, y: float) -> None:
        """Select the smallest detection containing frame point (x, y)."""
        d = self.detections
        if d is None or not len(d):
            return
        b = d.boxes
        inside = (b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3])
        if inside.any():
            areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            areas[~inside] = float("inf")
            self.detection_list.setCurrentRow(int(areas.argmin()))

    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        if not self._installed:
            self._paint_banner(painter, frame_width, frame_height,
                               f"Detect: {self.entry.name if self.entry else 'no model'} is not installed — "
                               "use Download or Import file… in the Detect panel")
            return
        d = self.detections
        if d is None:
            return
        if self.grid_check.isChecked() and d.grids:
            text = paint_grid(painter, d, self.selected)
            if text != self._grid_text:
                self._grid_text = text
                self.grid_label.setText(text)
        paint_detections(painter, d, frame_width, frame_height, self.selected)

    @staticmethod
    def _paint_banner(painter: QPainter, width: int, height: int, text: str) -> None:
        font = QFont()
        font.setPixelSize(max(12, width // 45))
        painter.setFont(font)
        band = max(28, height // 12)
        painter.fillRect(0, 0, width, band, QColor(0, 0, 0, 170))
        painter.setPen(QColor(255, 210, 90))
        painter.drawText(0, 0, width, band, Qt.AlignmentFlag.AlignCenter, text)

    # -- export / record ---------------------------------------------------------------------------
    def _choose_export_file(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export detections", "detections.csv",
                                              "CSV (*.csv);;JSON (*.json)")
        if path:
            self.export_detections(path)

    def export_detections(self, path: str | Path) -> bool:
        if self.detections is None:
            self.context.status("Nothing to export yet: no detections have arrived")
            return False
        try:
            save_detections(self.detections, path, source=self.detections.model)
        except (ValueError, OSError) as exc:
            self.context.error("Export failed", f"{path}: {exc}")
            return False
        self.context.status(f"Exported {len(self.detections)} detection(s) to {path}")
        return True

    def _on_record_clicked(self, checked: bool) -> None:
        if not checked:
            self.stop_recording()
            return
        path, _ = QFileDialog.getSaveFileName(self, "Record annotated video", "detections.mp4",
                                              "MP4 video (*.mp4);;AVI video (*.avi)")
        if not path or not self.start_recording(path):
            self.record_button.setChecked(False)

    def start_recording(self, path: str | Path, fps: float = 15.0) -> bool:
        """Record every processed frame with its boxes drawn in (at the inference rate)."""
        from engine.recorder import RecorderError, VideoRecorder
        try:
            self._recorder = VideoRecorder(path, fps=fps)
        except RecorderError as exc:
            self.context.error("Cannot record", str(exc))
            return False
        self.record_button.setChecked(True)
        self.record_button.setText("Stop recording")
        self.context.status(f"Recording annotated frames to {path}")
        return True

    def stop_recording(self) -> int:
        recorder, self._recorder = self._recorder, None
        self.record_button.setChecked(False)
        self.record_button.setText("Record annotated video…")
        if recorder is None:
            return 0
        recorder.close()
        self.context.status(f"Saved {recorder.frames_written} annotated frame(s) to {recorder.path}"
                            + (f" ({recorder.frames_dropped} dropped)" if recorder.frames_dropped else ""))
        return recorder.frames_written

    # -- life cycle -----------------------------------------------------------------------------------
    def activated(self) -> None:
        # Weights may have been installed elsewhere (model manager, CLI) meanwhile.
        was = self._installed
        self._refresh_model_state()
        if self._installed != was:
            self.task_changed.emit()

    def deactivated(self) -> None:
        self._task = None

    def shutdown(self) -> None:
        self.stop_recording()
        self.runner.shutdown()
