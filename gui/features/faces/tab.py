"""The Faces tab: enrol people from the camera or photos, recognise and verify them live,
calibrate the threshold on the user's own gallery, and the Siamese triplet view.

A thin view over engine.features.faces.controller.FacesController (state and commands, no Qt).
The live work runs in the engine's FacesTask (worker thread); live settings reach it as
one FacesSettings snapshot (``task_settings``, applied by the worker between frames);
enrolment runs as the engine's jobs in a job thread, on the task's own models.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QRadioButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.core.errors import UserError
from engine.features.faces.controller import FacesController
from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_records import GalleryError
from engine.features.faces.quality import GuidedCapture
from gui.common import file_dialogs
from gui.common.settings import read_int
from gui.common.tab_base import StudioTab
from gui.features.faces.calibrate import CalibratePanel
from gui.features.faces.enrol import EnrolPanel, ask_existing_dialog
from gui.features.faces.gallery import GalleryManager
from gui.features.faces.model import SLIDER_STEPS_PER_UNIT, FacesModelBox, ThresholdRow
from gui.features.faces.overlay import paint_faces
from gui.features.faces.siamese import CAMERA, SiamesePanel

if TYPE_CHECKING:
    from engine.runtime.worker import Task, TaskResult
    from gui.common.context import AppContext

log = logging.getLogger(__name__)

MODE_KEYS = ("recognise", "verify", "enrol")


class FacesTab(StudioTab):
    """Recognise / Verify / Enrol modes over the live feed; gallery, Calibrate and Siamese pages."""

    title = "Faces"

    def __init__(self, context: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.ctl = FacesController(context.store, context.weights_cache, context.device)
        self._jobs = context.job_runner("faces-enrol", self)
        self._jobs.finished.connect(self._job_finished)
        self._jobs.failed.connect(lambda message: self.context.error("Enrolment", message))
        self.ask_existing = self._ask_existing_dialog  # replaced in tests; the default asks with a dialog
        self._build_ui(read_int(context.store, "Faces/shots", 5, minimum=1, maximum=20))
        self.listen(self.ctl.task_changed, self._on_task_changed)
        self.listen(self.ctl.verdict, lambda text: self.verdict_label.setText(text))
        self.follow(self.ctl)
        self._open_gallery()
        self._fill_embedders()

    # -- state seen by tests and the window ----------------------------------------------
    embedder_name = property(lambda self: self.ctl.embedder_name)
    detector_name = property(lambda self: self.ctl.detector_name)
    threshold = property(lambda self: self.ctl.threshold)
    mode = property(lambda self: self.ctl.mode)
    gallery = property(lambda self: self.ctl.gallery)
    capture = property(lambda self: self.ctl.capture)
    _last = property(lambda self: self.ctl.last)

    # -- UI --------------------------------------------------------------------------
    def _build_ui(self, shots: int) -> None:
        self.model_box = FacesModelBox(self.ctl.detector_name, self.ctl.settings.upsample)
        self.embedder_combo = self.model_box.embedder_combo
        self.detector_combo = self.model_box.detector_combo
        self.embedder_note = self.model_box.embedder_note
        self.embedder_combo.currentIndexChanged.connect(self._embedder_picked)
        self.detector_combo.currentIndexChanged.connect(self._detector_picked)
        self.model_box.upsample_spin.valueChanged.connect(self.ctl.set_upsample)

        self.mode_buttons = QButtonGroup(self)
        mode_row = QHBoxLayout()
        for i, (key, text) in enumerate(zip(MODE_KEYS, ("Recognise", "Verify 1:1", "Enrol"))):
            button = QRadioButton(text)
            button.setObjectName(f"facesMode{key.title()}")
            self.mode_buttons.addButton(button, i)
            mode_row.addWidget(button)
        self.mode_buttons.button(0).setChecked(True)
        self.mode_buttons.idClicked.connect(lambda i: self.set_mode(MODE_KEYS[i]))

        threshold_row = ThresholdRow()
        self.threshold_slider = threshold_row.slider
        self.threshold_row = threshold_row
        self.threshold_slider.valueChanged.connect(self._slider_moved)
        threshold_row.reset.clicked.connect(self.reset_threshold)

        recognise_page = QLabel("Names appear over each face; \"Unknown\" when the closest person is beyond the threshold.")
        recognise_page.setWordWrap(True)
        verify_page = QWidget()
        verify_form = QFormLayout(verify_page)
        self.verify_combo = QComboBox()
        self.verify_combo.setObjectName("facesVerifyPerson")
        self.verify_combo.currentTextChanged.connect(self.ctl.set_verify_name)
        self.verdict_label = QLabel("—")
        self.verdict_label.setObjectName("facesVerdict")
        self.verdict_label.setWordWrap(True)  # a long name must wrap, not widen the panel
        font = self.verdict_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.verdict_label.setFont(font)
        verify_form.addRow("Claimed person", self.verify_combo)
        verify_form.addRow("Result", self.verdict_label)
        self.enrol = EnrolPanel(shots)
        self.enrol.capture_button.clicked.connect(self.toggle_capture)
        self.enrol.photos_button.clicked.connect(self._ask_photos)
        self.enrol.save_button.clicked.connect(self.save_capture)
        self.enrol.shot_strip.rejected.connect(self._reject_shot)
        self.stack = QStackedWidget()
        for page in (recognise_page, verify_page, self.enrol):
            self.stack.addWidget(page)

        self.manager = GalleryManager(self.context.error, self._status)
        self.manager.changed.connect(self._fill_people)
        self.calibrate = CalibratePanel()
        self.calibrate.compute_requested.connect(self.run_calibration)
        self.calibrate.use_threshold.connect(self.use_threshold)
        self.siamese = SiamesePanel()
        self.siamese.picks_changed.connect(self.update_triplet)
        self.pages = QTabWidget()
        self.pages.addTab(self.manager, "Gallery")
        self.pages.addTab(self.calibrate, "Calibrate")
        self.pages.addTab(self.siamese, "Siamese")

        layout = QVBoxLayout(self)
        layout.addWidget(self.model_box)
        layout.addLayout(mode_row)
        layout.addLayout(threshold_row)
        layout.addWidget(self.stack)
        layout.addWidget(self.pages, 1)

    # Old names of the enrol widgets, kept for callers and tests.
    name_edit = property(lambda self: self.enrol.name_edit)
    shots_spin = property(lambda self: self.enrol.shots_spin)
    capture_button = property(lambda self: self.enrol.capture_button)
    save_button = property(lambda self: self.enrol.save_button)
    hint_label = property(lambda self: self.enrol.hint_label)
    shot_strip = property(lambda self: self.enrol.shot_strip)

    def _status(self, message: str) -> None:
        self.context.status(message)
        self.status_message.emit(message)

    # -- gallery -----------------------------------------------------------------------
    def _open_gallery(self, path=None) -> None:
        try:
            self.ctl.gallery = Gallery(path)
        except GalleryError as exc:
            self.ctl.gallery = None
            self.context.error("Face gallery", exc)
        else:
            if self.ctl.gallery.notice:
                self.context.error("Face gallery", self.ctl.gallery.notice)
        self.manager.set_gallery(self.ctl.gallery)
        self._fill_people()

    def use_gallery(self, path) -> None:
        """Switch to another gallery file (tests, portable setups)."""
        if self.ctl.gallery is not None:
            self.ctl.gallery.close()
        self.ctl.task = None
        self._open_gallery(path)
        self.task_changed.emit()

    def _fill_people(self) -> None:
        names = [p.name for p in self.ctl.gallery.people()] if self.ctl.gallery is not None else []
        current = self.verify_combo.currentText()
        self.verify_combo.blockSignals(True)
        self.verify_combo.clear()
        self.verify_combo.addItems(names)
        if current in names:
            self.verify_combo.setCurrentText(current)
        self.verify_combo.blockSignals(False)
        self.ctl.set_verify_name(self.verify_combo.currentText())
        self.siamese.set_people(names)

    # -- model choice ------------------------------------------------------------------
    def _fill_embedders(self) -> None:
        self.model_box.show_embedders(self.ctl.embedders(), self.ctl.embedder_name)
        self._show_embedder()

    def _show_embedder(self) -> None:
        self.model_box.show_info(self.ctl.info())
        self._show_threshold()

    def _on_task_changed(self, _none=None) -> None:
        """Another embedder or detector (before the window rebuilds the task): show its facts."""
        self._show_embedder()

    def _embedder_picked(self, index: int) -> None:
        self.ctl.pick_embedder(self.embedder_combo.itemData(index))

    def _detector_picked(self, index: int) -> None:
        try:
            self.ctl.pick_detector(self.detector_combo.itemData(index))
        except (ValueError, UserError) as exc:
            self.context.error("Face detector", exc)  # a UserError's todo names the model manager
            self.model_box.select_detector(self.ctl.detector_name)

    # -- threshold -----------------------------------------------------------------------
    def default_threshold(self) -> float:
        return self.ctl.default_threshold()

    def _show_threshold(self) -> None:
        self.threshold_row.show(self.ctl.threshold, self.ctl.default_threshold(), self.ctl.threshold_range())

    def set_threshold(self, value: float, remember: bool = False) -> None:
        self.ctl.set_threshold(value, remember)
        self._show_threshold()

    def _slider_moved(self, value: int) -> None:
        self.set_threshold(value / SLIDER_STEPS_PER_UNIT, remember=True)

    def reset_threshold(self) -> None:
        self.ctl.reset_threshold()
        self._show_threshold()

    def use_threshold(self, value: float) -> None:
        self.set_threshold(value, remember=True)
        self._status(f"Faces: threshold set to {value:.3f} from the calibration")

    # -- modes -------------------------------------------------------------------------
    def set_mode(self, mode: str) -> bool:
        """Switch mode; leaving Enrol with unsaved shots asks first (False: the user stayed)."""
        if mode != "enrol" and self.mode == "enrol" and self.capture is not None and self.capture.chips:
            if not self.ask_discard(len(self.capture.chips)):
                self.mode_buttons.button(MODE_KEYS.index("enrol")).setChecked(True)
                return False
            self.ctl.capture = None
            self.enrol.reset("Type a name, then start the capture and look at the camera.")
        elif mode != "enrol" and self.capture is not None:
            self.stop_capture()
        self.ctl.set_mode(mode)
        index = MODE_KEYS.index(mode)
        self.stack.setCurrentIndex(index)
        if not self.mode_buttons.button(index).isChecked():
            self.mode_buttons.button(index).setChecked(True)
        return True

    def ask_discard(self, shots: int) -> bool:
        """Ask whether ``shots`` unsaved enrolment shots may be dropped (True: drop them)."""
        name = self.name_edit.text().strip() or "this person"
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved shots",
                          f"{shots} shot(s) of {name} are not saved. Discard them?",
                          QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("facesDiscardShots")
        box.setInformativeText("Cancel stays in Enrol, where Save adds them to the gallery.")
        discard = box.addButton("Discard shots", QMessageBox.ButtonRole.DestructiveRole)
        box.exec()
        return box.clickedButton() is discard

    # -- the live task -------------------------------------------------------------------
    def make_task(self) -> "Task | None":
        task = self.ctl.make_task()
        if task is None:
            self._status("Faces: the gallery could not be opened, so nothing can be recognised")
        return task

    def task_settings(self):
        return self.ctl.settings

    def on_result(self, result: "TaskResult") -> None:
        from engine.features.faces.task import FacesFrameResult

        data = result.result
        if not isinstance(data, FacesFrameResult):
            return
        self.ctl.on_result(data)  # verify mode: the verdict label follows ctl.verdict
        if data.mode == "enrol" and self.capture is not None and data.candidate is not None:
            self.offer_shot(data.candidate, result.frame.timestamp)
        if self.pages.currentWidget() is self.siamese and self.siamese.picks()[0] == CAMERA:
            self.update_triplet()

    # -- know your threshold / Siamese -----------------------------------------------
    def run_calibration(self) -> bool:
        from engine.features.faces.calibration import CalibrationError

        try:
            cal = self.ctl.calibration()
        except (CalibrationError, ValueError) as exc:
            self.calibrate.show_message(str(exc))
            return False
        self.calibrate.show_calibration(cal)
        return True

    def update_triplet(self) -> None:
        self.siamese.update_from(self.ctl)

    # -- guided capture ----------------------------------------------------------------
    def toggle_capture(self) -> None:
        if self.capture is not None and self.capture.capturing:
            self.stop_capture()
        else:
            self.start_capture()

    def start_capture(self) -> bool:
        if not self.name_edit.text().strip():
            self._status("Enrol: type the person's name first")
            self.hint_label.setText("Type the person's name first.")
            return False
        capture = self.capture
        if capture is not None and capture.chips and not capture.done and capture.target == self.shots_spin.value():
            capture.resume()  # a stopped capture goes on with the shots it kept
            self.enrol.hint_label.setText(f"{len(capture.chips)}/{capture.target} — look at the camera; "
                                          "turn your head a little between shots.")
        else:
            self.ctl.capture = GuidedCapture(target=self.shots_spin.value())
            self.enrol.reset("Look at the camera; turn your head a little between shots.")
        self.context.store.set("Faces/shots", self.shots_spin.value())
        self.capture_button.setText("Stop capture")
        self.set_mode("enrol")
        return True

    def stop_capture(self) -> None:
        if self.capture is not None and self.capture.capturing:
            self.capture.stop()
        self.enrol.show_stopped(self.capture)

    def offer_shot(self, candidate, timestamp: float) -> bool:
        """Feed one frame's enrolment candidate to the guided capture (GUI thread)."""
        capture = self.capture
        if capture is None or not capture.capturing:
            return False  # stopped (also after a Reject while stopped) or complete
        kept = capture.offer(candidate.verdict, candidate.chip, timestamp)
        if self.enrol.show_offer(capture, kept):
            self._status(f"Enrol: {capture.target} good shots of {self.name_edit.text().strip()} — check them, then Save")
        return kept

    def _reject_shot(self, index: int) -> None:
        if self.capture is not None and 0 <= index < len(self.capture.chips):
            self.capture.reject(index)
            self.enrol.show_rejected(self.capture, self.capture.capturing)

    def _resolve_name(self, name: str) -> tuple[str, bool] | None:
        """(person to write to, add to an existing person?) or None when the user cancelled."""
        if self.gallery is None:
            self.context.error("Enrolment", "the face gallery is not open")
            return None
        try:
            person = self.gallery.find(name)
        except ValueError as exc:
            self.context.error("Enrolment", exc)
            return None
        if person is None:
            return name, False
        target = self.ask_existing(person.name)
        return (target, True) if target else None

    def _ask_existing_dialog(self, name: str) -> str | None:
        return ask_existing_dialog(self, name, [p.name for p in self.gallery.people()] if self.gallery else [])

    def _start_job(self, make_job) -> None:
        from engine.features.faces.jobs import run_job

        # The job (and the models it may load) is built in the job thread, never here.
        self._jobs.start(lambda control: run_job(make_job(), lambda _step: control.check()))

    def save_capture(self) -> bool:
        """Enrol the kept shots under the name typed (engine job, job thread)."""
        if self.capture is None or not self.capture.chips:
            self._status("Enrol: no shots captured yet")
            return False
        resolved = self._resolve_name(self.name_edit.text())
        if resolved is None:
            return False
        name, add = resolved
        self._start_job(lambda: self.ctl.enrol_capture_job(name, add))
        return True

    def _ask_photos(self) -> None:
        paths = file_dialogs.open_files(self, "Enrol from photos", "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff)")
        if paths:
            self.enrol_photos(paths)

    def enrol_photos(self, paths: list[str]) -> bool:
        """Enrol the typed name from photos (one face each): engine job, job thread."""
        if not self.name_edit.text().strip():
            self._status("Enrol: type the person's name first")
            return False
        resolved = self._resolve_name(self.name_edit.text())
        if resolved is None:
            return False
        name, add = resolved
        self._start_job(lambda: self.ctl.enrol_photos_job(name, list(paths), add))
        return True

    def _job_finished(self, person) -> None:
        self.manager.refresh()
        self._fill_people()
        self.ctl.capture = None
        self.enrol.reset(f"{person.name} is enrolled ({person.shots} shots).")
        self._status(f"enrolled {person.name}: {person.shots} shot(s) with {self.embedder_name}")
        self.set_mode("recognise")

    # -- drawing / life cycle ------------------------------------------------------------
    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        if self.ctl.last is not None:
            capture = self.capture  # the capture's prompt shows while it runs, not after Stop
            hint = f"{len(capture.chips)}/{capture.target}  {capture.hint}" if capture is not None and capture.capturing else None
            paint_faces(painter, self.ctl.last, frame_width, hint)

    def activated(self) -> None:
        self.ctl.refresh_embedders()  # models may have been installed in the model manager meanwhile
        self._fill_embedders()
        self.manager.refresh()
        self._fill_people()

    def deactivated(self) -> None:
        if self.capture is not None and self.capture.capturing:
            self.stop_capture()

    def shutdown(self) -> None:
        self._jobs.shutdown()
        self.ctl.close()
        if self.gallery is not None:
            self.gallery.close()
