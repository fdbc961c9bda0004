"""The Teach tab offscreen: record from the feed, import, train, live overlay, reopen the last project."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QPainter

from engine.core.frame import Frame
from engine.features.teach.controller import TeachController
from engine.features.teach.synthetic import make_image
from engine.runtime.worker import TaskResult, Timings
from gui.common.context import AppContext
from gui.features.teach.tab import TeachTab


@pytest.fixture
def make_tab(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    frames = {"now": Frame(make_image(0, np.random.default_rng(0)), 0, 0.0, "test")}

    def make():
        context = AppContext(settings, torch.device("cpu"), latest_frame=lambda: frames["now"])
        tab = TeachTab(context, controller=TeachController(projects_dir=tmp_path / "projects"))
        qtbot.addWidget(tab)
        return tab

    return make


def test_record_train_predict_and_reopen(make_tab, qtbot, small_folder):
    tab = make_tab()
    tab.backbone_combo.setCurrentIndex(tab.backbone_combo.findData("mobilenet_v3_small"))
    tab.untrained_check.setChecked(True)
    tab.augment_check.setChecked(False)
    assert "untrained" in tab.weights_label.text()
    project = tab.controller.project
    assert project.backbone == "mobilenet_v3_small" and project.untrained
    strip = tab.strip.blocks
    assert strip and all(b.state in ("frozen", "unused") for b in strip)  # a linear head trains no block

    # hold the record button of the first class: samples arrive from the feed at the set rate
    tab.class_list.rate_spin.setValue(10)
    assert tab.controller.record_rate == 10.0
    first = tab.class_list.card_at(0)
    name = first.name_edit.text()
    first.record_button.pressed.emit()
    qtbot.waitUntil(lambda: project.counts()[name] >= 2, timeout=5000)
    first.record_button.released.emit()
    recorded = project.counts()[name]
    assert first.thumbs.count() == recorded

    with qtbot.waitSignal(tab.importer.ended, timeout=60000) as ended:  # the import runs in the background
        assert tab.import_folder(str(small_folder))
        assert not tab.train_panel.train_button.isEnabled() and not tab.import_folder(str(small_folder))
    report, done = ended.args
    assert report.total == 24 and done == report.total + len(report.skipped) and tab.train_panel.train_button.isEnabled()
    assert project.counts()["blobs"] == 8 and len(project.classes) == 5
    qtbot.waitUntil(lambda: tab.scatter.count >= 24, timeout=60000)  # the PCA of the cached embeddings

    # a class with 2 samples, one with none: both are mentioned, training goes on
    tab.epochs_spin.setValue(20)
    with qtbot.waitSignal(tab.train_runner.finished, timeout=120000):
        tab.train_panel.train_button.click()
    assert "Validation accuracy" in tab.train_panel.status.text() and "'Class 2' has no samples" in tab.train_panel.status.text()
    assert not tab.train_panel.confusion.pixmap().isNull()
    assert tab.train_panel.hardest.count() >= 1
    assert (project.model_dir / "model.json").is_file()
    task = tab.make_task()
    assert task is not None and task.name == "teach"

    # the live prediction: bars and the winning class over the frame
    task.load(torch.device("cpu"))
    frame = Frame(make_image(2, np.random.default_rng(5)), 0, 0.0, "test")
    prediction = task.postprocess(task.infer(task.preprocess(frame)), frame)
    tab.on_result(TaskResult("teach", frame, prediction, Timings(0, 0, 0, 0, 0, 0)))
    image = QImage(320, 240, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    tab.paint_overlay(painter, 320, 240)
    painter.end()
    assert image.pixelColor(5, 5).lightness() < 128  # the banner at the top
    tab.threshold_slider.setValue(100)
    assert tab.task_settings().threshold == 1.0

    # reopening the app opens the same project with its trained model
    again = make_tab()
    assert again.controller.project.root == project.root and again.controller.model is not None
    assert again.class_list.card_at(0).thumbs.count() == recorded


def test_export_model_from_the_tab_and_the_cli_takes_the_project_folder(make_tab, qtbot, small_folder, tmp_path, capsys):
    import onnxruntime as ort

    import main

    tab = make_tab()
    tab.backbone_combo.setCurrentIndex(tab.backbone_combo.findData("mobilenet_v3_small"))
    tab.untrained_check.setChecked(True)
    tab.augment_check.setChecked(False)
    tab.epochs_spin.setValue(2)
    assert not tab.train_panel.export_button.isEnabled()  # nothing trained yet
    assert not tab.export_model(tmp_path / "early.onnx") and "Train" in tab.context.last_error[1]
    with qtbot.waitSignal(tab.importer.ended, timeout=60000):
        tab.import_folder(str(small_folder))
    with qtbot.waitSignal(tab.train_runner.finished, timeout=120000):
        tab.train_panel.train_button.click()
    assert tab.train_panel.export_button.isEnabled()
    project = tab.controller.project

    # not into the project (its model's labels.txt would be replaced)
    assert not tab.export_model(project.root / "model" / "x.onnx") and "Teach project" in tab.context.last_error[1]
    out = tmp_path / "exports"
    with qtbot.waitSignal(tab.export_runner.finished, timeout=120000):
        assert tab.export_model(out / "shapes")  # no suffix: ONNX
    session = ort.InferenceSession(str(out / "shapes.onnx"), providers=["CPUExecutionProvider"])
    probs = session.run(None, {"image": np.random.default_rng(0).random((1, 3, 224, 224), np.float32)})[0]
    assert probs.shape == (1, len(tab.controller.model.labels))
    assert (out / "labels.txt").read_text().split() == list(tab.controller.model.labels)
    assert "exported ONNX" in tab.context.last_status
    with qtbot.waitSignal(tab.export_runner.finished, timeout=120000):
        assert tab.export_model(out / "shapes.pt")
    assert torch.jit.load(str(out / "shapes.pt"))(torch.rand(1, 3, 224, 224)).shape == probs.shape

    # the CLI takes the project folder itself, not only <project>/model
    assert main.main(["teach", "export", str(project.root), "--format", "torchscript", "-o", str(tmp_path / "cli" / "m.pt")]) == 0
    assert (tmp_path / "cli" / "m.pt").is_file() and "exported torchscript" in capsys.readouterr().out
    empty = tab.controller.new_project("empty")
    assert main.main(["teach", "export", str(empty.root), "--format", "onnx", "-o", str(tmp_path / "e.onnx")]) == 2
    assert "has no trained model yet" in capsys.readouterr().err


def test_missing_imagenet_weights_point_at_the_model_manager_not_the_cli(make_tab):
    tab = make_tab()
    tab.backbone_combo.setCurrentIndex(tab.backbone_combo.findData("mobilenet_v3_small"))
    tab.untrained_check.setChecked(False)
    text = tab.weights_label.text()
    assert "not installed" in text and "Model manager" in text and "untrained" in text
    assert "python main.py" not in text and "--untrained" not in text
