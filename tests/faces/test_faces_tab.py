"""The Faces tab offscreen: enrol from photos and by guided capture, recognise, verify, gallery manager."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage, QPainter

from engine.core.frame import Frame
from engine.models.cache import WeightsCache
from engine.runtime.worker import TaskResult, Timings


@pytest.fixture()
def tab(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    from gui.common.context import AppContext
    from gui.features.faces.tab import FacesTab

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    # Nothing installed, not even dlib's bundled models: the offline pipeline (Haar + LBP).
    context = AppContext(settings, torch.device("cpu"), weights_cache=WeightsCache(tmp_path / "models", bundled=False))
    widget = FacesTab(context)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


@pytest.fixture()
def photo_files(tmp_path, astronaut_variants, no_face_photos):
    out = {}
    for name in ("original", "brighter", "cropped"):
        out[name] = str(tmp_path / f"{name}.png")
        cv2.imwrite(out[name], astronaut_variants[name])
    out["coffee"] = str(tmp_path / "coffee.png")
    cv2.imwrite(out["coffee"], no_face_photos["coffee"])
    return out


def _run_frame(task, image, index=0, timestamp=None):
    frame = Frame(image=image, index=index, timestamp=time.monotonic() if timestamp is None else timestamp, source="test")
    with torch.inference_mode():
        result = task.postprocess(task.infer(task.preprocess(frame)), frame)
    return TaskResult(task.name, frame, result, Timings(0, 0, 0, 0, 0, 0))


def _overlay(tab, image):
    h, w = image.shape[:2]
    canvas = QImage(w, h, QImage.Format.Format_RGB888)
    canvas.fill(0)
    painter = QPainter(canvas)
    tab.paint_overlay(painter, w, h)
    painter.end()
    ptr = canvas.constBits()
    return np.array(ptr, dtype=np.uint8).reshape(h, canvas.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)


def _enrol_photos(qtbot, tab, name, paths):
    tab.name_edit.setText(name)
    with qtbot.waitSignal(tab._jobs.finished, timeout=60000):
        assert tab.enrol_photos(paths)


def test_picking_a_detector_that_is_not_installed_says_how_to_get_it(tab):
    tab.detector_combo.setCurrentIndex(tab.detector_combo.findData("yunet"))
    message = tab.context.last_error[1]
    # the button that installs it, not a command line
    assert "Model manager" in message and "'yunet'" in message and "Download" in message
    assert "main.py" not in message and "models fetch" not in message
    assert tab.detector_name == "haar" and tab.detector_combo.currentData() == "haar"


def test_offline_embedder_is_labelled_and_sets_the_threshold(tab):
    assert tab.embedder_name == "lbp"
    assert "classical" in tab.embedder_combo.currentText().lower()
    assert "Classical method" in tab.embedder_note.text()
    assert tab.threshold == pytest.approx(0.16)
    assert tab.threshold_slider.value() == round(0.16 * 500)


def test_enrol_from_photos_then_recognise_with_overlay(qtbot, tab, photo_files, astronaut_variants, coins):
    _enrol_photos(qtbot, tab, "Eileen", [photo_files["original"], photo_files["brighter"]])
    assert tab.manager.names() == ["Eileen"] and not tab.manager.list.item(0).icon().isNull()
    assert [tab.verify_combo.itemText(i) for i in range(tab.verify_combo.count())] == ["Eileen"]

    task = tab.make_task()
    task.load(torch.device("cpu"))
    result = _run_frame(task, astronaut_variants["noisy"])
    tab.on_result(result)
    assert result.result.faces[0].label == "Eileen"
    overlay = _overlay(tab, astronaut_variants["noisy"])
    x1, y1, x2, y2 = result.result.faces[0].detection.box.astype(int)
    label_area = overlay[max(y1 - 40, 0):y1, x1:x2]
    green = (label_area[..., 1] > 150) & (label_area[..., 0] < 120)  # RGB image: G high, R low
    assert green.mean() > 0.2, "the name tag is painted in the 'known' colour above the face"

    tab.on_result(_run_frame(task, coins, 1))
    overlay = _overlay(tab, coins)
    red = (overlay[..., 0] > 180) & (overlay[..., 1] < 120)
    assert red.sum() > 100, "strangers are marked Unknown in red"

    # The slider hands the running task a new settings snapshot (the worker applies it between frames).
    with qtbot.waitSignal(tab.settings_changed):
        tab.threshold_slider.setValue(0)
    task.configure(tab.task_settings())
    assert task.threshold == 0.0
    assert _run_frame(task, astronaut_variants["noisy"], 2).result.faces[0].match.name == "Unknown"
    tab.reset_threshold()
    task.configure(tab.task_settings())
    assert task.threshold == pytest.approx(0.16)

    tab.set_mode("verify")
    task.configure(tab.task_settings())
    assert task.mode == "verify" and task.verify_name == "Eileen"
    tab.on_result(_run_frame(task, astronaut_variants["darker"], 3))
    assert tab.verdict_label.text().startswith("match")
    task.close()


def test_enrol_errors_are_reported_not_raised(qtbot, tab, photo_files):
    tab.name_edit.setText("Nobody")
    with qtbot.waitSignal(tab._jobs.failed, timeout=60000):
        tab.enrol_photos([photo_files["original"], photo_files["coffee"]])
    assert "no face found in" in tab.context.last_error[1] and "coffee.png" in tab.context.last_error[1]
    assert tab.manager.names() == []
    tab.name_edit.setText("")
    assert not tab.start_capture() and "name" in tab.context.last_status


def test_guided_capture_keeps_good_varied_shots_and_an_existing_name_asks(qtbot, tab, photo_files, astronaut_variants, coins):
    _enrol_photos(qtbot, tab, "Eileen", [photo_files["original"]])
    tab.name_edit.setText("eileen")
    tab.shots_spin.setValue(3)
    assert tab.start_capture() and tab.mode == "enrol"
    task = tab.make_task()
    task.load(torch.device("cpu"))
    assert task.mode == "enrol"  # the task starts with the tab's current snapshot
    clock = 100.0
    # A frame with two faces is never kept, and says why.
    tab.on_result(_run_frame(task, coins, 0, clock))
    assert len(tab.capture.chips) == 0 and "2 faces" in tab.hint_label.text()
    # The same pose twice in a row is not kept twice.
    frames = ["original", "original", "flipped", "rotated", "smaller"]
    for i, name in enumerate(frames, 1):
        clock += 1.0
        tab.on_result(_run_frame(task, astronaut_variants[name], i, clock))
    assert len(tab.capture.chips) == 3 and tab.capture.done and tab.save_button.isEnabled()
    assert tab.shot_strip.list.count() == 3
    # The user rejects one; capture goes on until three are kept again.
    tab.shot_strip.list.setCurrentRow(1)
    tab.shot_strip.reject_button.click()
    assert len(tab.capture.chips) == 2 and not tab.capture.done
    clock += 1.0
    tab.on_result(_run_frame(task, astronaut_variants["cropped"], 9, clock))
    assert len(tab.capture.chips) == 3

    asked = []
    tab.ask_existing = lambda name: asked.append(name) or None  # the user cancels
    assert not tab.save_capture() and asked == ["Eileen"]
    tab.ask_existing = lambda name: name  # "Add shots to Eileen"
    with qtbot.waitSignal(tab._jobs.finished, timeout=60000):
        assert tab.save_capture()
    assert tab.gallery.get("Eileen").shots == 4 and tab.mode == "recognise"
    task.close()


def test_gallery_manager_rename_merge_delete_export_import(qtbot, tab, photo_files, tmp_path):
    _enrol_photos(qtbot, tab, "Ann", [photo_files["original"]])
    _enrol_photos(qtbot, tab, "Bob", [photo_files["brighter"]])
    manager = tab.manager
    assert manager.rename("Ann", "Annie") and manager.names() == ["Annie", "Bob"]
    assert [tab.verify_combo.itemText(i) for i in range(tab.verify_combo.count())] == ["Annie", "Bob"]
    assert not manager.rename("Annie", "bob")
    assert "already in the gallery" in tab.context.last_error[1]
    archive = str(tmp_path / "g.zip")
    statuses = []
    manager._status = statuses.append
    assert manager.export_to(archive)
    assert statuses[-1] == f"exported 2 people (2 shots) to {archive}"
    assert manager.merge("Bob", "Annie") and manager.names() == ["Annie"]
    assert tab.gallery.get("Annie").shots == 2
    assert manager.export_to(str(tmp_path / "one.zip"))
    assert statuses[-1].startswith("exported 1 person (2 shots) to ")
    assert manager.delete("Annie") and manager.names() == []
    assert manager.import_interactive(archive, lambda clashes: pytest.fail("no clash expected"))
    assert manager.names() == ["Annie", "Bob"]
    clashes = []
    assert not manager.import_interactive(archive, lambda names: clashes.append(names) or None)
    assert clashes == [["Annie", "Bob"]]
    assert manager.import_interactive(archive, lambda names: "merge")
    assert tab.gallery.get("Bob").shots == 2


def test_a_damaged_gallery_is_restored_and_the_user_is_told(qtbot, tab, photo_files, tmp_path):
    _enrol_photos(qtbot, tab, "Ann", [photo_files["original"]])
    path = tab.gallery.path
    tab.gallery.close()
    with open(path, "r+b") as fh:
        fh.write(b"\x00" * 4096)
    tab.use_gallery(path)
    assert "restored from the backup" in tab.context.last_error[1]
    assert tab.manager.names() == ["Ann"]


def test_calibrate_and_siamese_views(qtbot, tab, photo_files, astronaut_variants, lfw_faces):
    from engine.features.faces.detectors import HaarDetector
    from engine.features.faces.embedders import LBPEmbedder
    from engine.features.faces.recognizer import FaceRecognizer
    from gui.features.faces.siamese import CAMERA

    _enrol_photos(qtbot, tab, "Ann", [photo_files["original"], photo_files["brighter"]])
    tab.pages.setCurrentWidget(tab.calibrate)
    assert not tab.run_calibration()
    assert "impostors are needed" in tab.calibrate.summary.text() and not tab.calibrate.use_button.isEnabled()

    FaceRecognizer(HaarDetector(), LBPEmbedder(), tab.gallery).enrol_chips("Bob", lfw_faces[:3])
    tab.manager.refresh()
    tab._fill_people()
    assert tab.run_calibration()
    cal = tab.calibrate.calibration
    assert len(cal.genuine) == 1 + 3 and len(cal.impostor) == 2 * 3
    assert "Equal error rate" in tab.calibrate.summary.text()
    tab.calibrate.far_spin.setValue(0.0)
    with qtbot.waitSignal(tab.settings_changed):
        tab.calibrate.use_button.click()
    assert tab.threshold == pytest.approx(cal.threshold_at_far(0.0)) and tab.task_settings().threshold == tab.threshold

    tab.pages.setCurrentWidget(tab.siamese)
    tab.siamese.anchor_combo.setCurrentText("Ann")
    tab.siamese.positive_combo.setCurrentText("Ann")
    tab.siamese.negative_combo.setCurrentText("Bob")
    text = tab.siamese.result_label.text()
    assert "d(A,P)" in text and "margin" in text
    assert not tab.siamese.chip_labels[2].pixmap().isNull()

    task = tab.make_task()
    task.load(torch.device("cpu"))
    tab.siamese.anchor_combo.setCurrentText(CAMERA)
    tab.on_result(_run_frame(task, astronaut_variants["noisy"]))
    live = tab.siamese.result_label.text()
    assert "d(A,P)" in live and live != text  # the camera face is the anchor now
    task.close()


def _answer_next_box(button_text: str, seen: list[str]) -> None:
    """Click ``button_text`` in the next modal message box (noting its text in ``seen``)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.text())
        next(b for b in box.buttons() if b.text().replace("&", "") == button_text).click()

    QTimer.singleShot(20, answer)


def test_stop_reject_and_leaving_enrol_respect_the_users_choice(qtbot, tab, astronaut_variants):
    tab.name_edit.setText("Eileen")
    tab.shots_spin.setValue(3)
    assert tab.start_capture()
    task = tab.make_task()
    task.load(torch.device("cpu"))
    clock = 100.0

    def feed(name):
        nonlocal clock
        clock += 1.0
        before = len(tab.capture.chips)
        tab.on_result(_run_frame(task, astronaut_variants[name], 0, clock))
        return len(tab.capture.chips) > before

    assert feed("original") and feed("flipped")
    assert not feed("original") and "turn your head" in tab.hint_label.text()
    prompt = _overlay(tab, astronaut_variants["original"])

    # Stop capture: the prompt goes (label and the text over the video), nothing more is kept.
    tab.capture_button.click()
    assert tab.capture_button.text() == "Start capture" and "turn your head" not in tab.hint_label.text()
    stopped = _overlay(tab, astronaut_variants["original"])
    capture, tab.ctl.capture = tab.ctl.capture, None
    no_capture = _overlay(tab, astronaut_variants["original"])
    tab.ctl.capture = capture
    assert (stopped == no_capture).all() and not (prompt == stopped).all()
    assert not feed("rotated")

    # Reject selected while stopped: the shot goes, the capture stays stopped.
    tab.shot_strip.list.setCurrentRow(0)
    tab.shot_strip.reject_button.click()
    assert len(tab.capture.chips) == 1 and tab.capture_button.text() == "Start capture"
    assert not feed("rotated") and not feed("smaller") and len(tab.capture.chips) == 1

    # Start again: the capture goes on, and the rejected pose is not taken again.
    tab.capture_button.click()
    assert tab.capture.capturing and len(tab.capture.chips) == 1
    assert not feed("original")
    assert feed("rotated")

    # Leaving Enrol with unsaved shots asks; Cancel stays, Discard drops them.
    seen: list[str] = []
    _answer_next_box("Cancel", seen)
    tab.mode_buttons.button(0).click()
    assert seen and "not saved" in seen[0] and tab.mode == "enrol" and len(tab.capture.chips) == 2
    assert tab.mode_buttons.button(2).isChecked()
    _answer_next_box("Discard shots", seen)
    tab.mode_buttons.button(1).click()
    assert len(seen) == 2 and tab.mode == "verify" and tab.capture is None and tab.shot_strip.list.count() == 0
    task.close()
