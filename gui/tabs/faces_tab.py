"""The Faces tab: enrol people from the camera or photos, recognise and verify them live.

The live work runs in the engine's FacesTask (worker thread); this tab only changes
its plain attributes (mode, threshold, person to verify), collects enrolment shots from
its results, and paints names and distances over the video. Gallery changes made here
reach the running task through the shared, thread-safe Gallery object.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.faces.embedders import embedder_info, installed_embedders
from engine.faces.gallery import Gallery, GalleryError
from engine.faces.quality import GuidedCapture
from engine.faces.types import UNKNOWN
from gui.tabs.base import StudioTab
from gui.widgets.faces_gallery import GalleryManager
from gui.widgets.faces_shots import ShotStrip

if TYPE_CHECKING:
    from engine.faces.task import FacesFrameResult, FacesTask
    from engine.runtime import Task, TaskResult
    from gui.context import AppContext

log = logging.getLogger(__name__)

SLIDER_STEPS_PER_UNIT = 500  # slider value / 500 = distance; distances of unit vectors lie in [0, 2]
GOOD = QColor(60, 200, 90)
BAD = QColor(230, 70, 60)
NEUTRAL = QColor(250, 200, 40)


class FacesTab(StudioTab):
    """Recognise / Verify / Enrol modes over the live feed, plus the gallery manager."""

    title = "Faces"

    def __init__(self, context: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        settings = context.settings
        self.mode = "recognise"
        self.embedder_name: str = str(settings.value("Faces/embedder", "") or "")
        self.detector_name: str = str(settings.value("Faces/detector", "haar") or "haar")
        self.threshold: float = 0.0
        self.gallery: Gallery | None = None
        self.capture: GuidedCapture | None = None
        self._task: "FacesTask | None" = None
        self._last: "FacesFrameResult | None" = None
        self._recognizer = None  # for enrolment in job threads; rebuilt when the embedder changes
        self._jobs = context.job_runner("faces-enrol", self)
        self._jobs.finished.connect(self._job_finished)
        self._jobs.failed.connect(lambda message: self.context.error("Enrolment", message))
        # Replaced in tests; the default asks with a dialog.
        self.ask_existing = self._ask_existing_dialog

        self._build_ui(int(settings.value("Faces/shots", 5) or 5))
        self._open_gallery()
        self._fill_embedders()

    # -- UI --------------------------------------------------------------------------
    def _build_ui(self, shots: int) -> None:
        self.embedder_combo = QComboBox()
        self.embedder_combo.setObjectName("facesEmbedder")
        self.embedder_combo.currentIndexChanged.connect(self._embedder_picked)
        self.detector_combo = QComboBox()
        self.detector_combo.setObjectName("facesDetector")
        self.detector_combo.addItem("Haar cascade (offline)", "haar")
        self.detector_combo.addItem("YuNet (landmarks)", "yunet")
        if self.detector_name != "haar" and not self._detector_installed(self.detector_name):
            self.detector_name = "haar"  # the model was removed since last time
        self.detector_combo.setCurrentIndex(max(self.detector_combo.findData(self.detector_name), 0))
        self.detector_combo.currentIndexChanged.connect(self._detector_picked)
        self.embedder_note = QLabel()
        self.embedder_note.setObjectName("facesEmbedderNote")
        self.embedder_note.setWordWrap(True)
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        form.addRow("Embedder", self.embedder_combo)
        form.addRow("Detector", self.detector_combo)
        form.addRow(self.embedder_note)

        self.mode_buttons = QButtonGroup(self)
        mode_row = QHBoxLayout()
        for i, (key, text) in enumerate((("recognise", "Recognise"), ("verify", "Verify 1:1"), ("enrol", "Enrol"))):
            button = QRadioButton(text)
            button.setObjectName(f"facesMode{key.title()}")
            self.mode_buttons.addButton(button, i)
            mode_row.addWidget(button)
        self.mode_buttons.button(0).setChecked(True)
        self.mode_buttons.idClicked.connect(lambda i: self.set_mode(("recognise", "verify", "enrol")[i]))

        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setObjectName("facesThreshold")
        self.threshold_slider.setRange(0, 2 * SLIDER_STEPS_PER_UNIT)
        self.threshold_slider.valueChanged.connect(self._slider_moved)
        self.threshold_label = QLabel()
        self.threshold_reset = QPushButton("Default")
        self.threshold_reset.clicked.connect(self.reset_threshold)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(QLabel("Threshold"))
        threshold_row.addWidget(self.threshold_slider, 1)
        threshold_row.addWidget(self.threshold_label)
        threshold_row.addWidget(self.threshold_reset)

        self.stack = QStackedWidget()
        recognise_page = QLabel("Names appear over each face; \"Unknown\" when the closest person is beyond the threshold.")
        recognise_page.setWordWrap(True)
        verify_page = QWidget()
        verify_form = QFormLayout(verify_page)
        self.verify_combo = QComboBox()
        self.verify_combo.setObjectName("facesVerifyPerson")
        self.verify_combo.currentTextChanged.connect(self._verify_person_picked)
        self.verdict_label = QLabel("—")
        self.verdict_label.setObjectName("facesVerdict")
        font = self.verdict_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.verdict_label.setFont(font)
        verify_form.addRow("Claimed person", self.verify_combo)
        verify_form.addRow("Result", self.verdict_label)

        enrol_page = QWidget()
        enrol_layout = QVBoxLayout(enrol_page)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("facesName")
        self.name_edit.setPlaceholderText("Name of the person to enrol")
        self.shots_spin = QSpinBox()
        self.shots_spin.setRange(1, 20)
        self.shots_spin.setValue(max(1, min(shots, 20)))
        self.capture_button = QPushButton("Start capture")
        self.capture_button.setObjectName("facesCapture")
        self.capture_button.clicked.connect(self.toggle_capture)
        self.photos_button = QPushButton("From photos…")
        self.photos_button.setObjectName("facesFromPhotos")
        self.photos_button.clicked.connect(self._ask_photos)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("facesSave")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_capture)
        self.hint_label = QLabel("Type a name, then start the capture and look at the camera.")
        self.hint_label.setObjectName("facesHint")
        self.hint_label.setWordWrap(True)
        self.shot_strip = ShotStrip()
        self.shot_strip.rejected.connect(self._reject_shot)
        top = QHBoxLayout()
        top.addWidget(self.name_edit, 1)
        top.addWidget(QLabel("shots"))
        top.addWidget(self.shots_spin)
        buttons = QHBoxLayout()
        for b in (self.capture_button, self.photos_button, self.save_button):
            buttons.addWidget(b)
        enrol_layout.addLayout(top)
        enrol_layout.addLayout(buttons)
        enrol_layout.addWidget(self.hint_label)
        enrol_layout.addWidget(self.shot_strip)
        for page in (recognise_page, verify_page, enrol_page):
            self.stack.addWidget(page)

        self.manager = GalleryManager(self.context.error, self._status)
        self.manager.changed.connect(self._gallery_changed)
        gallery_box = QGroupBox("Gallery")
        QVBoxLayout(gallery_box).addWidget(self.manager)

        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addLayout(mode_row)
        layout.addLayout(threshold_row)
        layout.addWidget(self.stack)
        layout.addWidget(gallery_box, 1)

    def _detector_installed(self, name: str) -> bool:
        from engine.faces.models import is_installed

        try:
            return is_installed(name, self.context.weights_cache)
        except Exception:  # an unknown name in old settings
            return False

    def _status(self, message: str) -> None:
        self.context.status(message)
        self.status_message.emit(message)

    # -- gallery -----------------------------------------------------------------------
    def _open_gallery(self, path=None) -> None:
        try:
            self.gallery = Gallery(path)
        except GalleryError as exc:
            self.gallery = None
            self.context.error("Face gallery", str(exc))
        else:
            if self.gallery.notice:
                self.context.error("Face gallery", self.gallery.notice)
        self.manager.set_gallery(self.gallery)
        self._fill_verify_people()

    def use_gallery(self, path) -> None:
        """Switch to another gallery file (tests, portable setups)."""
        if self.gallery is not None:
            self.gallery.close()
        self._open_gallery(path)
        self.task_changed.emit()

    def _gallery_changed(self) -> None:
        self._fill_verify_people()

    def _fill_verify_people(self) -> None:
        current = self.verify_combo.currentText()
        self.verify_combo.blockSignals(True)
        self.verify_combo.clear()
        names = [p.name for p in self.gallery.people()] if self.gallery is not None else []
        self.verify_combo.addItems(names)
        if current in names:
            self.verify_combo.setCurrentText(current)
        self.verify_combo.blockSignals(False)
        self._verify_person_picked(self.verify_combo.currentText())

    # -- model choice ------------------------------------------------------------------
    def _fill_embedders(self) -> None:
        names = installed_embedders(self.context.weights_cache)
        wanted = self.embedder_name if self.embedder_name in names else names[0]
        self.embedder_combo.blockSignals(True)
        self.embedder_combo.clear()
        for name in names:
            info = embedder_info(name)
            self.embedder_combo.addItem(f"{name} — {info['title']}", name)
        self.embedder_combo.setCurrentIndex(self.embedder_combo.findData(wanted))
        self.embedder_combo.blockSignals(False)
        self._apply_embedder(wanted)

    def _embedder_picked(self, index: int) -> None:
        name = self.embedder_combo.itemData(index)
        if name and name != self.embedder_name:
            self._apply_embedder(name)
            self.task_changed.emit()

    def _apply_embedder(self, name: str) -> None:
        self.embedder_name = name
        self._recognizer = None
        self.context.settings.setValue("Faces/embedder", name)
        info = embedder_info(name)
        note = f"{info['metric']} distance, default threshold {info['threshold']:g}."
        if info["classical"]:
            note = ("Classical method (local binary patterns), not a neural network: works offline, "
                    "less accurate. Install FaceNet or SFace in Models for better results. " + note)
        self.embedder_note.setText(note)
        saved = self.context.settings.value(f"Faces/threshold/{name}")
        self.set_threshold(float(saved) if saved not in (None, "") else info["threshold"])

    def _detector_picked(self, index: int) -> None:
        name = self.detector_combo.itemData(index)
        if name != "haar":
            from engine.faces.detectors import FaceModelError, make_detector

            try:
                make_detector(name, self.context.weights_cache)
            except FaceModelError as exc:
                self.context.error("Face detector", str(exc))
                self.detector_combo.setCurrentIndex(self.detector_combo.findData(self.detector_name))
                return
        self.detector_name = name
        self._recognizer = None
        self.context.settings.setValue("Faces/detector", self.detector_name)
        self.task_changed.emit()

    # -- threshold -----------------------------------------------------------------------
    def default_threshold(self) -> float:
        return float(embedder_info(self.embedder_name)["threshold"])

    def set_threshold(self, value: float) -> None:
        self.threshold = max(0.0, min(2.0, float(value)))
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(self.threshold * SLIDER_STEPS_PER_UNIT))
        self.threshold_slider.blockSignals(False)
        self.threshold_label.setText(f"{self.threshold:.3f} (default {self.default_threshold():g})")
        if self._task is not None:
            self._task.threshold = self.threshold  # read live by the worker

    def _slider_moved(self, value: int) -> None:
        self.set_threshold(value / SLIDER_STEPS_PER_UNIT)
        self.context.settings.setValue(f"Faces/threshold/{self.embedder_name}", self.threshold)

    def reset_threshold(self) -> None:
        self.context.settings.remove(f"Faces/threshold/{self.embedder_name}")
        self.set_threshold(self.default_threshold())

    # -- modes -------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.mode = mode
        index = ("recognise", "verify", "enrol").index(mode)
        self.stack.setCurrentIndex(index)
        if not self.mode_buttons.button(index).isChecked():
            self.mode_buttons.button(index).setChecked(True)
        if mode != "enrol" and self.capture is not None and not self.capture.done:
            self.stop_capture()
        if self._task is not None:
            self._task.mode = mode
        self._last = None

    def _verify_person_picked(self, name: str) -> None:
        if self._task is not None:
            self._task.verify_name = name or None

    # -- the live task -------------------------------------------------------------------
    def make_task(self) -> "Task | None":
        from engine.faces.task import FacesTask

        if self.gallery is None:
            self._status("Faces: the gallery could not be opened, so nothing can be recognised")
            return None
        self._task = FacesTask(embedder=self.embedder_name, detector=self.detector_name, gallery=self.gallery,
                               threshold=self.threshold, mode=self.mode, cache=self.context.weights_cache)
        self._task.verify_name = self.verify_combo.currentText() or None
        return self._task

    def on_result(self, result: "TaskResult") -> None:
        from engine.faces.task import FacesFrameResult

        data = result.result
        if not isinstance(data, FacesFrameResult):
            return
        self._last = data
        if data.mode == "verify":
            self._show_verdict(data)
        if data.mode == "enrol" and self.capture is not None and data.candidate is not None:
            self.offer_shot(data.candidate, result.frame.timestamp)

    def _show_verdict(self, data: "FacesFrameResult") -> None:
        if not data.faces:
            self.verdict_label.setText("no face in view")
        elif data.verify_name is None:
            self.verdict_label.setText("choose a person")
        else:
            face = data.faces[0]
            word = "match" if face.verified else "no match"
            self.verdict_label.setText(f"{word} — {data.verify_name}? distance {face.distance:.3f}")

    # -- guided capture ----------------------------------------------------------------
    def toggle_capture(self) -> None:
        if self.capture is not None and not self.capture.done:
            self.stop_capture()
        else:
            self.start_capture()

    def start_capture(self) -> bool:
        name = self.name_edit.text().strip()
        if not name:
            self._status("Enrol: type the person's name first")
            self.hint_label.setText("Type the person's name first.")
            return False
        self.capture = GuidedCapture(target=self.shots_spin.value())
        self.context.settings.setValue("Faces/shots", self.shots_spin.value())
        self.shot_strip.set_chips([])
        self.save_button.setEnabled(False)
        self.capture_button.setText("Stop capture")
        self.hint_label.setText("Look at the camera; turn your head a little between shots.")
        self.set_mode("enrol")
        return True

    def stop_capture(self) -> None:
        self.capture_button.setText("Start capture")
        if self.capture is not None:
            self.save_button.setEnabled(bool(self.capture.chips))

    def offer_shot(self, candidate, timestamp: float) -> bool:
        """Feed one frame's enrolment candidate to the guided capture (GUI thread)."""
        capture = self.capture
        if capture is None or capture.done:
            return False
        kept = capture.offer(candidate.verdict, candidate.chip, timestamp)
        self.hint_label.setText(f"{len(capture.chips)}/{capture.target} — {capture.hint}")
        if kept:
            self.shot_strip.set_chips(capture.chips)
        if capture.done:
            self.capture_button.setText("Start capture")
            self.save_button.setEnabled(True)
            self._status(f"Enrol: {capture.target} good shots of {self.name_edit.text().strip()} — check them, then Save")
        return kept

    def _reject_shot(self, index: int) -> None:
        if self.capture is None or not 0 <= index < len(self.capture.chips):
            return
        self.capture.reject(index)
        self.shot_strip.set_chips(self.capture.chips)
        self.save_button.setEnabled(bool(self.capture.chips))
        if self.mode == "enrol":
            self.capture_button.setText("Stop capture")
        self.hint_label.setText(f"{len(self.capture.chips)}/{self.capture.target} — shot rejected, capturing another")

    def _resolve_name(self, name: str) -> tuple[str, bool] | None:
        """(person to write to, add to an existing person?) or None when the user cancelled."""
        if self.gallery is None:
            self.context.error("Enrolment", "the face gallery is not open")
            return None
        try:
            person = self.gallery.find(name)
        except ValueError as exc:
            self.context.error("Enrolment", str(exc))
            return None
        if person is None:
            return name, False
        target = self.ask_existing(person.name)
        return (target, True) if target else None

    def _ask_existing_dialog(self, name: str) -> str | None:
        box = QMessageBox(QMessageBox.Icon.Question, "Enrol",
                          f"'{name}' is already in the gallery. Add these shots to {name}, or merge them into "
                          "another person?", QMessageBox.StandardButton.Cancel, self)
        add = box.addButton(f"Add shots to {name}", QMessageBox.ButtonRole.AcceptRole)
        merge = box.addButton("Merge into…", QMessageBox.ButtonRole.ActionRole)
        box.exec()
        if box.clickedButton() is add:
            return name
        if box.clickedButton() is merge:
            names = [p.name for p in self.gallery.people()] if self.gallery else []
            target, ok = QInputDialog.getItem(self, "Merge", "Add the shots to:", names, 0, False)
            return target if ok else None
        return None

    def _enrol_recognizer(self):
        if self._recognizer is None:
            from engine.faces.detectors import make_detector
            from engine.faces.embedders import make_embedder
            from engine.faces.recognizer import FaceRecognizer

            embedder = make_embedder(self.embedder_name, self.context.weights_cache)
            embedder.load(self.context.device)
            self._recognizer = FaceRecognizer(make_detector(self.detector_name, self.context.weights_cache),
                                              embedder, self.gallery, self.context.device)
        return self._recognizer

    def save_capture(self) -> bool:
        """Enrol the kept shots under the name typed (in a job thread)."""
        if self.capture is None or not self.capture.chips:
            self._status("Enrol: no shots captured yet")
            return False
        resolved = self._resolve_name(self.name_edit.text())
        if resolved is None:
            return False
        name, add = resolved
        chips = list(self.capture.chips)
        self._jobs.start(lambda control: ("enrolled", self._enrol_recognizer().enrol_chips(name, chips, add)))
        return True

    def _ask_photos(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Enrol from photos", "", "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff)")
        if paths:
            self.enrol_photos(paths)

    def enrol_photos(self, paths: list[str]) -> bool:
        """Enrol the typed name from photos (one face each) in a job thread."""
        if not self.name_edit.text().strip():
            self._status("Enrol: type the person's name first")
            return False
        resolved = self._resolve_name(self.name_edit.text())
        if resolved is None:
            return False
        name, add = resolved

        def job(control):
            from engine.sources import read_image

            images = []
            for path in paths:
                control.check()
                images.append((path, read_image(path)))
            return "enrolled", self._enrol_recognizer().enrol(name, images, add)

        self._jobs.start(job)
        return True

    def _job_finished(self, value) -> None:
        kind, person = value
        self.manager.refresh()
        self._fill_verify_people()
        self.capture = None
        self.shot_strip.set_chips([])
        self.save_button.setEnabled(False)
        self.capture_button.setText("Start capture")
        self.hint_label.setText(f"{person.name} is enrolled ({person.shots} shots).")
        self._status(f"enrolled {person.name}: {person.shots} shot(s) with {self.embedder_name}")
        self.set_mode("recognise")

    # -- drawing -------------------------------------------------------------------------
    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        data = self._last
        if data is None:
            return
        line = max(1.0, frame_width / 320)
        font = QFont(painter.font())
        font.setPixelSize(max(12, int(frame_width / 40)))
        font.setBold(True)
        painter.setFont(font)
        for face in data.faces:
            x1, y1, x2, y2 = (float(v) for v in face.detection.box)
            if data.mode == "enrol":
                colour, text = NEUTRAL, ""
            elif data.mode == "verify":
                colour = GOOD if face.verified else BAD
                text = f"{face.label} {face.distance:.3f}" if not math.isnan(face.distance) else face.label
            else:
                colour = BAD if face.label == UNKNOWN else GOOD
                text = face.label if math.isnan(face.distance) else f"{face.label} {face.distance:.3f}"
            painter.setPen(QPen(colour, line))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
            if text:
                metrics = painter.fontMetrics()
                width, height = metrics.horizontalAdvance(text) + 8, metrics.height() + 4
                top = y1 - height if y1 - height >= 0 else y2
                painter.fillRect(QRectF(x1, top, width, height), colour)
                painter.setPen(QColor(0, 0, 0))
                painter.drawText(QRectF(x1 + 4, top + 2, width - 8, height - 4), Qt.AlignmentFlag.AlignLeft, text)
        if data.mode == "enrol" and self.capture is not None:
            text = f"{len(self.capture.chips)}/{self.capture.target}  {self.capture.hint}"
            painter.setPen(NEUTRAL)
            painter.drawText(QRectF(8, 8, frame_width - 16, font.pixelSize() * 2), Qt.AlignmentFlag.AlignLeft, text)

    # -- life cycle ----------------------------------------------------------------------
    def activated(self) -> None:
        # Models may have been installed in the model manager meanwhile.
        before = self.embedder_name
        self._fill_embedders()
        if self.embedder_name != before:
            self.task_changed.emit()
        self.manager.refresh()
        self._fill_verify_people()

    def deactivated(self) -> None:
        if self.capture is not None and not self.capture.done:
            self.stop_capture()

    def shutdown(self) -> None:
        self._jobs.shutdown()
        if self.gallery is not None:
            self.gallery.close()
