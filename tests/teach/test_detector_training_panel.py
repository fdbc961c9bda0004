"""Detector mode's training panel offscreen: the estimate before it starts, a short real
training run in the job thread with live curves, the held-out evaluation shown, Cancel,
and "Use in Detect" listing the saved model folder as my-<project name>."""

from __future__ import annotations

import torch
from PySide6.QtCore import QSettings

from engine.features.detect import user_models
from engine.features.teach.controller import TeachController
from engine.features.teach.detection.scenes import write_scenes
from engine.features.teach.detection.session import DetectorSession
from engine.features.teach.detection.training import DetectorTrainSettings
from gui.common.context import AppContext
from gui.features.teach.tab import TeachTab

TINY = DetectorTrainSettings(arch="nano", input_size=96, epochs=2, untrained=True, augment=False, val_fraction=0.25)


def _page(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    context = AppContext(settings, torch.device("cpu"))
    tab = TeachTab(context, controller=TeachController(projects_dir=tmp_path / "projects"),
                   detector_session=DetectorSession(tmp_path / "detectors"))
    qtbot.addWidget(tab)
    tab.set_mode("detector")
    page = tab.detector_page
    with qtbot.waitSignal(page.importer.ended, timeout=60000):  # the import runs in the background
        assert page.import_yolo(str(write_scenes(tmp_path / "scenes", count=8, seed=0, size=(160, 120))))
    return tab, page


def test_train_evaluate_and_use_in_detect(qtbot, tmp_path):
    tab, page = _page(qtbot, tmp_path)
    panel = page.train_panel
    assert panel.train_button.isEnabled() and not panel.use_button.isEnabled()
    # the estimate arrives from its job before anything is trained
    panel.minutes_spin.setValue(3)
    qtbot.waitUntil(lambda: "on this machine" in panel.estimate_label.text(), timeout=20000)
    assert "8 pictures" in panel.estimate_label.text() and "about 3 min" in panel.estimate_label.text()

    with qtbot.waitSignal(panel.runner.finished, timeout=60000):
        assert panel.start(TINY)
        assert panel.train_button.text() == "Cancel"
    assert panel.train_button.text() == "Train"
    assert len(panel.loss_plot.getData()[0]) >= 2  # a point per step
    assert "Held-out pictures: mAP@0.5" in panel.status.text()
    assert page.session.trained is not None and panel.evaluation.table.rowCount() == len(page.session.project.classes)
    folder = page.session.saved_model()
    assert folder is not None and folder.parent == page.session.project.root / "model"

    name = panel.use_in_detect()
    assert name == f"my-{folder.name}" and "Detect" in tab.context.last_status
    entries, note = user_models.restore(tab.context.store, ())
    assert note is None and [e.name for e in entries] == [name]
    assert entries[0].meta["categories"] == page.session.project.classes


def test_cancel_keeps_the_saved_model(qtbot, tmp_path):
    tab, page = _page(qtbot, tmp_path)
    panel = page.train_panel
    long_run = DetectorTrainSettings(arch="nano", input_size=96, epochs=200, untrained=True, augment=False)
    with qtbot.waitSignal(panel.runner.cancelled, timeout=60000):
        assert panel.start(long_run)
        qtbot.waitUntil(lambda: panel.progress.value() >= 1, timeout=30000)
        panel.train_button.click()  # Cancel
    assert "cancelled" in panel.status.text() and panel.train_button.text() == "Train"
    assert page.session.saved_model() is None
