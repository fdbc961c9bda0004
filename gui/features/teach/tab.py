"""Teach tab: record classes from the webcam, train a classifier on an ImageNet backbone, run it live.

A thin view over ``engine.features.teach.controller.TeachController``: the controller owns the
project, the backbone, the training job and the live settings; this module only lays
out widgets, forwards the user's actions and paints the live prediction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.features.teach.backbones import BackboneWeightsMissingError
from engine.features.teach.controller import TeachController
from engine.features.teach.project import ProjectError
from engine.features.teach.render import confusion_image
from gui.common import file_dialogs
from gui.common.context import install_todo
from gui.common.tab_base import StudioTab
from gui.features.teach.classes import ClassList, files_in, thumbnail
from gui.features.teach.import_row import ImportRow
from gui.features.teach.insight import BackboneStrip, EmbeddingScatter
from gui.features.teach.mode_switch import MODES, ModeSwitch
from gui.features.teach.model_export import ModelExport
from gui.features.teach.prediction_overlay import paint_prediction
from gui.features.teach.settings import ModelSettingsBox
from gui.features.teach.training import TrainPanel, ask_about_missing_weights

log = logging.getLogger(__name__)
KEY_LAST = "Teach/last_project"
KEY_MODE = "Teach/mode"


class TeachTab(StudioTab):
    title = "Teach"

    def __init__(self, context, parent: QWidget | None = None, controller: TeachController | None = None,
                 detector_session=None) -> None:
        super().__init__(context, parent)
        self.controller = controller or TeachController(weights_cache=context.weights_cache)
        self._detector_session = detector_session  # None: the default projects folder
        self.prediction = None
        self.train_runner = context.job_runner("teach-train", self)
        self.embed_runner = context.job_runner("teach-embed", self)
        self.train_runner.progress.connect(self._on_train_progress)
        self.train_runner.finished.connect(self._on_trained)
        self.train_runner.failed.connect(lambda m: self.train_panel.show_stopped(f"Training failed: {m}"))
        self.train_runner.cancelled.connect(lambda: self.train_panel.show_stopped("Training cancelled; nothing was changed."))
        self.embed_runner.finished.connect(lambda _: self._refresh_pca())
        self.record_timer = QTimer(self)
        self.record_timer.timeout.connect(self._record_tick)
        self._build()
        self.follow(self.controller)  # a project opened or a model trained: task_changed
        last = context.store.get(KEY_LAST, "")
        self._show_project(self.controller.open_or_create(last or None))
        if self.controller.open_problems:
            self.context.error("Teach project not opened", "\n\n".join(self.controller.open_problems)
                               + f"\n\nOpened the project {self.controller.project.name} instead.")
        self.set_mode(context.store.get(KEY_MODE, "classifier", lambda v: v in MODES))

    # -- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        self.project_label = QLabel()
        self.project_label.setObjectName("projectName")
        buttons = QHBoxLayout()
        for text, slot in (("New…", self._new_project), ("Open…", self._open_project),
                           ("Import folder…", self._import_folder), ("Export folder…", self._export_folder)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        self.model_box = ModelSettingsBox()
        self.model_box.edited.connect(self._settings_edited)
        self.model_box.preview_clicked.connect(self._preview_augmentation)
        box = self.model_box
        self.backbone_combo, self.untrained_check, self.head_combo = box.backbone_combo, box.untrained_check, box.head_combo
        self.finetune_spin, self.epochs_spin, self.augment_check = box.finetune_spin, box.epochs_spin, box.augment_check
        self.weights_label = box.weights_label

        self.class_list = ClassList()
        self.class_list.add_class_clicked.connect(self._add_class)
        self.class_list.rate_spin.valueChanged.connect(lambda v: setattr(self.controller, "record_rate", float(v)))
        self.train_panel = TrainPanel()
        self.train_panel.train_clicked.connect(self._train)
        self.train_panel.cancel_clicked.connect(self.train_runner.cancel)
        self.exporter = ModelExport(self.context, self.controller, self.train_panel.export_button, self)
        self.export_runner = self.exporter.runner
        self.train_panel.export_button.clicked.connect(lambda: self.exporter.ask(self))
        self.strip = BackboneStrip()
        self.params_label = QLabel()
        self.params_label.setObjectName("paramsLabel")
        self.params_label.setWordWrap(True)
        self.scatter = EmbeddingScatter()
        self.smoothing_slider = self._slider(0, 95, int(self.controller.live_settings.smoothing * 100))
        self.threshold_slider = self._slider(0, 100, int(self.controller.live_settings.threshold * 100))
        live_row = QHBoxLayout()
        live_row.addWidget(QLabel("Smoothing"))
        live_row.addWidget(self.smoothing_slider)
        live_row.addWidget(QLabel("Uncertain below"))
        live_row.addWidget(self.threshold_slider)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.mode_switch = ModeSwitch()
        self.mode_buttons = self.mode_switch.buttons
        self.mode_switch.chosen.connect(self.set_mode)
        outer.addWidget(self.mode_switch)
        self.pages = QStackedWidget()
        self.classifier_page = QWidget()
        self.detector_page = None  # built the first time Detector mode is shown
        self.pages.addWidget(self.classifier_page)
        outer.addWidget(self.pages)
        layout = QVBoxLayout(self.classifier_page)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.project_label, 1)
        layout.addLayout(top)
        layout.addLayout(buttons)
        self.importer = ImportRow(self.context, page=self.classifier_page)
        self.importer.started.connect(lambda: self.controller.recording and self._stop_recording())
        self.importer.ended.connect(self._imported)
        layout.addWidget(self.importer)
        layout.addWidget(self.model_box)
        layout.addWidget(self.class_list)
        layout.addWidget(self.train_panel)
        insight = QGroupBox("Transfer learning")
        box = QVBoxLayout(insight)
        box.addWidget(self.strip)
        box.addWidget(self.params_label)
        box.addWidget(self.scatter)
        layout.addWidget(insight)
        layout.addLayout(live_row)
        layout.addStretch(1)

    @property
    def mode(self) -> str:
        return "detector" if self.detector_page is not None and self.pages.currentWidget() is self.detector_page else "classifier"

    def set_mode(self, mode: str) -> None:
        """Show the Classifier or the Detector page and remember the choice."""
        if mode not in MODES:
            mode = "classifier"
        if mode == "detector" and self.detector_page is None:
            from gui.features.teach.detector_mode import DetectorMode

            self.detector_page = DetectorMode(self.context, self._detector_session)
            self.pages.addWidget(self.detector_page)
        if mode == "detector":
            self.detector_page.ensure_open()
            if self.controller.recording:
                self._stop_recording()
        self.pages.setCurrentWidget(self.detector_page if mode == "detector" else self.classifier_page)
        self.mode_switch.show_mode(mode)
        self.context.store.set(KEY_MODE, mode)
        self.task_changed.emit()  # the live task: the classifier's, or none while labelling

    def _slider(self, lo: int, hi: int, value: int) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(lo, hi)
        slider.setValue(value)
        slider.valueChanged.connect(self._live_edited)
        return slider

    # -- project --------------------------------------------------------------------
    def _show_project(self, project) -> None:
        """Show the project the controller just opened (it announced task_changed already)."""
        self.context.store.set(KEY_LAST, str(project.root))
        self.project_label.setText(f"Project: <b>{project.name}</b>")
        self.project_label.setToolTip(str(project.root))  # long paths would widen the tab column
        if project.notice:
            self.context.status(f"Teach: {project.notice}")
        self.model_box.load(project)
        self._rebuild_cards()
        self._refresh_model_view()

    def _rebuild_cards(self) -> None:
        project = self.controller.project
        for card in self.class_list.rebuild([(c.id, c.name) for c in project.classes]):
            card.record_pressed.connect(self._start_recording)
            card.record_released.connect(lambda _id: self._stop_recording())
            card.add_files_clicked.connect(self._add_files)
            card.files_dropped.connect(lambda cid, paths: self._add_paths(cid, files_in(paths)))
            card.rename_requested.connect(self._rename_class)
            card.delete_requested.connect(self._delete_class)
            card.delete_sample_requested.connect(self._delete_sample)
            samples = project.samples(card.class_id)
            shown = []
            for s in reversed(samples[-40:]):
                try:
                    shown.append((s.id, thumbnail(project.load_sample(s))))
                except Exception as exc:  # a damaged file: listed in training warnings, skipped here
                    log.warning("thumbnail skipped: %s", exc)
            card.set_samples(shown, len(samples))
        self.class_list.add_button.setEnabled(len(project.classes) < 20)

    def _refresh_model_view(self) -> None:
        c = self.controller
        try:
            blocks = c.strip()
            trained, frozen = c.trainable_summary()
            self.strip.set_blocks(blocks)
            backbone = c.backbone()
            self.weights_label.setText(backbone.weights_label if backbone.trained else f"⚠ {backbone.weights_label}")
            self.params_label.setText(f"Trained: {trained:,} parameters (orange); frozen: {frozen:,} (grey).")
        except BackboneWeightsMissingError as exc:
            self.strip.set_blocks([])
            # The app's way out (the model manager, the "untrained" box), not the CLI's.
            self.weights_label.setText(f"⚠ {exc.what}: {install_todo(exc.catalog_name)}; or tick \"untrained\" "
                                       "(random weights give much worse accuracy)")
        if c.result is None:
            self.train_panel.status.setText("A trained model is loaded." if c.model is not None else "Not trained yet.")
        self.train_panel.export_button.setEnabled(c.model is not None)
        self._start_embedding()

    def _new_project(self) -> None:
        name, ok = QInputDialog.getText(self, "New Teach project", "Name:")
        if ok and name.strip():
            self._show_project(self.controller.new_project(name))

    def _open_project(self) -> None:
        folder = file_dialogs.open_folder(self, "Open Teach project", start=str(self.controller.projects_dir))
        if folder:
            try:
                self._show_project(self.controller.open_project(folder))
            except ProjectError as exc:
                self.context.error("Cannot open project", exc)

    def _import_folder(self) -> None:
        folder = file_dialogs.open_folder(self, "Import an ImageFolder (one sub-folder per class)")
        if folder:
            self.import_folder(folder)

    def import_folder(self, folder: str) -> bool:
        """Start importing an ImageFolder in the background (``importer``); False while one runs."""
        if self.importer.running:
            return False
        self.importer.start(self.controller.project.import_folder_job(folder), folder)
        return True

    def _imported(self, report, done: int) -> None:
        if report is not None:
            skipped = f"; skipped {len(report.skipped)} file(s) that are not images" if report.skipped else ""
            self.context.status(f"Imported {report.total} samples{skipped}")
        elif done:
            self.context.status(f"Import stopped after {done} file(s); the samples read stay in the project")
        if done:
            self._rebuild_cards()
            self._start_embedding()

    def _export_folder(self) -> None:
        folder = file_dialogs.open_folder(self, "Export samples as an ImageFolder")
        if folder:
            self.export_folder(folder)

    def export_folder(self, folder: str) -> None:
        """Write the samples as ``folder/<class name>/<sample>.png``; a failure is shown, not raised."""
        try:
            count = self.controller.project.export_folder(folder)
        except (ProjectError, OSError) as exc:
            self.context.error("Cannot export", str(exc))
            return
        self.context.status(f"Exported {count} samples to {folder}")

    # -- classes and samples --------------------------------------------------------
    def _guard(self, action, *args):
        try:
            return action(*args)
        except ProjectError as exc:
            self.context.error("Teach", exc)
            return None

    def _add_class(self) -> None:
        n = len(self.controller.project.classes) + 1
        if self._guard(self.controller.project.add_class, f"Class {n}") is not None:
            self._rebuild_cards()

    def _rename_class(self, class_id: str, name: str) -> None:
        if self._guard(self.controller.project.rename_class, class_id, name) is None:
            self._rebuild_cards()

    def _delete_class(self, class_id: str) -> None:
        info = self.controller.project.get_class(class_id)
        answer = QMessageBox.question(self, "Delete class", f"Delete '{info.name}' and its {len(info.samples)} samples?")
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.project.delete_class(class_id)
            self._rebuild_cards()

    def _delete_sample(self, class_id: str, sample_id: str) -> None:
        self._guard(self.controller.project.delete_sample, sample_id)
        self._rebuild_cards()

    def _add_files(self, class_id: str) -> None:
        files = file_dialogs.open_files(self, "Add images", "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff)")
        if files:
            self._add_paths(class_id, [Path(f) for f in files])

    def _add_paths(self, class_id: str, files: list[Path]) -> None:
        report = self.controller.project.add_files(class_id, files)
        self._rebuild_cards()
        self._start_embedding()
        if report.skipped:
            self.context.error("Some files were not added", "\n".join(reason for _, reason in report.skipped[:5]))

    def _start_recording(self, class_id: str) -> None:
        self.controller.start_recording(class_id)
        card = self.class_list.card(class_id)
        if card is not None:
            card.set_recording(True)
        self.record_timer.start(max(20, int(1000 / self.controller.record_rate / 2)))
        if self.context.latest_frame() is None:
            self.context.status("Teach: no video is running — start a camera (Space) to record samples")

    def _stop_recording(self) -> None:
        for card in self.class_list.cards.values():
            card.set_recording(False)
        self.controller.stop_recording()
        self.record_timer.stop()
        self._start_embedding()

    def _record_tick(self) -> None:
        frame = self.context.latest_frame()
        c = self.controller
        if frame is None or c.recording is None:
            return
        class_id = c.recording
        if c.offer_frame(frame.image):
            sample = c.project.samples(class_id)[-1]
            card = self.class_list.card(class_id)
            if card is not None:
                card.prepend_sample(sample.id, thumbnail(frame.image), len(c.project.get_class(class_id).samples))

    def tab_key(self, key: int, pressed: bool, auto_repeat: bool) -> bool:
        """Hold 1…9 to record into class card 1…9, whatever has focus (the main window routes it);
        in Detector mode the detector page's keys (C, 1…9, Delete, Enter)."""
        if self.mode == "detector":
            return self.detector_page.handle_key(key, pressed)
        if not Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            return False
        card = self.class_list.card_at(key - Qt.Key.Key_1)
        if card is None:
            return False
        if auto_repeat:
            return True  # held down: recording goes on, the repeats are ours too
        if pressed:
            self._start_recording(card.class_id)
        elif self.controller.recording:
            self._stop_recording()
        return True

    # -- settings -------------------------------------------------------------------
    def _settings_edited(self) -> None:
        self.model_box.store(self.controller.project)
        self._refresh_model_view()

    def _live_edited(self) -> None:
        self.controller.set_live_settings(self.smoothing_slider.value() / 100, self.threshold_slider.value() / 100)

    def _preview_augmentation(self) -> None:
        if not self.model_box.preview(self.controller.project):
            self.context.status("Teach: record or add a sample first")

    # -- export ---------------------------------------------------------------------
    def export_model(self, path: str | Path) -> bool:
        """Export the trained model to ``path`` in a job (see ``ModelExport.export``)."""
        return self.exporter.export(path)

    # -- training -------------------------------------------------------------------
    def _train(self) -> None:
        try:
            self.controller.backbone()
        except BackboneWeightsMissingError as exc:
            answer = ask_about_missing_weights(self, exc.what)
            if answer == "untrained":
                self.untrained_check.setChecked(True)
            else:
                if answer == "manager" and hasattr(self.window(), "open_model_manager"):
                    self.window().open_model_manager()
                return
        self.embed_runner.cancel()
        self.train_panel.start()
        self.train_runner.start(self.controller.train_job(self.context.device))

    def _on_train_progress(self, progress) -> None:
        self.train_panel.show_progress(progress)

    def _on_trained(self, result) -> None:
        self.controller.finish_training(result)  # task_changed: the live task runs the new model
        project = self.controller.project
        paths = {s.id: s for s in project.samples()}
        hard = []
        for m in result.misclassified[:8]:
            if m.id in paths:
                try:
                    hard.append((cv2.resize(project.load_sample(paths[m.id]), (64, 64)), f"{m.label} → {m.predicted}"))
                except Exception:
                    continue
        self.train_panel.show_result(result, confusion_image(result.confusion, result.labels), hard)
        self._refresh_model_view()

    def _start_embedding(self) -> None:
        if self.train_runner.is_running():
            return
        try:
            self.controller.backbone()
        except BackboneWeightsMissingError:
            return
        self.embed_runner.start(self.controller.embed_job())

    def _refresh_pca(self) -> None:
        self.scatter.set_points(*self.controller.pca_points())

    # -- live -----------------------------------------------------------------------
    def make_task(self):
        return self.controller.make_task() if self.mode == "classifier" else None

    def task_settings(self):
        return self.controller.live_settings

    def on_result(self, result) -> None:
        self.prediction = result.result

    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        if self.prediction is not None and self.mode == "classifier":  # labelling: the picture is the user's
            paint_prediction(painter, self.prediction, frame_width)

    def deactivated(self) -> None:
        if self.controller.recording:
            self._stop_recording()

    def shutdown(self) -> None:
        if self.detector_page is not None:
            self.detector_page.train_panel.shutdown()
        self.train_runner.shutdown()
        self.embed_runner.shutdown()
        self.controller.close()
