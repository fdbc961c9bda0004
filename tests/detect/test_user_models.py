"""Your own model in the Detect tab (issue 22, item 3), real widgets offscreen: a
transformers folder of a seeded tiny RT-DETR opens live (its boxes reach the tab's list),
is remembered across restarts and dropped with one message once gone; a broken folder
gets one message and the model that ran keeps running; a YOLOX .pth of 3 classes asks for
its names file in a real file dialog."""

from __future__ import annotations

import json
import shutil

import pytest
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.user_models import NamesNeeded, saved, user_entry
from gui.features.detect.tab import DetectTab
from tests.detect.test_detect_tab import context, installed_tab, run_task_once, tab  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def rtdetr_folder(tmp_path_factory):
    from tests.detect.detr_oracle import save_random

    folder = tmp_path_factory.mktemp("mine") / "parcels"
    save_random(folder, "rt_detr", seed=3)
    return folder


def _detect_once(tab: DetectTab) -> None:
    task = tab.make_task()
    assert task is not None
    image = synthetic_image(240, 320, seed=7)
    tab.on_result(run_task_once(task, image))
    tab.refresh_views()


def test_a_model_folder_runs_live_and_is_remembered(qtbot, installed_tab, context, rtdetr_folder):
    tab = installed_tab
    tab.settings_box.conf_slider.setValue(1)  # random weights: low scores, still a set of boxes
    with qtbot.waitSignal(tab.task_changed):
        tab.model_box.model_path_chosen.emit(str(rtdetr_folder))  # what Open model folder… emits
    assert tab.entry.name == "my-parcels" and tab.model_box.combo.currentText().startswith("my-parcels")
    assert tab.controller.class_names() == ("person", "bicycle", "car", "dog", "cat", "kite", "cup")
    assert not tab.model_box.import_button.isEnabled() and not tab.model_box.download_button.isEnabled()
    assert not tab.settings_box.form.isRowVisible(tab.settings_box.iou_slider)  # a set predictor: no NMS slider
    _detect_once(tab)
    d = tab.detections
    assert d.model == "parcels" and len(d) > 0 and tab.detection_list.count() == len(d)
    assert set(d.labels) <= set(tab.controller.class_names())
    assert saved(context.store) == [(str(rtdetr_folder), None)]

    # A restart lists it again, selected; once its folder is gone it is dropped with one message.
    again = DetectTab(context)
    qtbot.addWidget(again)
    assert again.entry.name == "my-parcels" and again.make_task() is not None
    again.shutdown()
    moved = rtdetr_folder.with_name("moved")
    shutil.move(rtdetr_folder, moved)
    try:
        third = DetectTab(context)
        qtbot.addWidget(third)
        assert all(e.name != "my-parcels" for e in third.controller.entries)
        assert "could not be opened" in context.last_status and str(rtdetr_folder) in context.last_status
        assert saved(context.store) == []
        third.shutdown()
    finally:
        shutil.move(moved, rtdetr_folder)


def test_a_broken_folder_gets_one_message_and_the_model_keeps_running(qtbot, installed_tab, context, tmp_path,
                                                                    rtdetr_folder):
    tab = installed_tab
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "rt_detr", "id2label": {"0": "a"}}')
    before = tab.entry.name
    changes = []
    tab.task_changed.connect(lambda: changes.append(1))
    for bad in (broken, tmp_path / "nowhere"):
        assert not tab.open_user_model(str(bad))
        assert tab.model_box.problem.isVisibleTo(tab.model_box) and bad.name in tab.model_box.problem.text()
        assert context.last_status == tab.model_box.problem.text() and "\n" not in context.last_status
    assert "model.safetensors" in tab.model_box.problem.text() or "no such" in tab.model_box.problem.text()
    assert changes == [] and tab.entry.name == before and tab.model_box.combo.currentIndex() == tab.controller.index
    _detect_once(tab)
    assert tab.detections.model == before and len(tab.detections) > 0

    # Weights of another architecture than the config: refused from the header alone.
    mismatched = tmp_path / "mismatched"
    shutil.copytree(rtdetr_folder, mismatched)
    config = json.loads((mismatched / "config.json").read_text())
    config["id2label"]["7"] = "boat"  # 8 classes named, weights of 7
    (mismatched / "config.json").write_text(json.dumps(config))
    assert not tab.open_user_model(str(mismatched))
    assert "does not fit" in tab.model_box.problem.text() and tab.entry.name == before


def _answer_file_dialog(path: str) -> None:
    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(50, act)
            return
        dialog.selectFile(path)
        dialog.accept()
    QTimer.singleShot(50, act)


def _qt_open_dialog(parent, caption, directory="", filters=""):
    dialog = QFileDialog(parent, caption, directory, filters)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    return (dialog.selectedFiles()[0], "") if dialog.exec() else ("", "")


def test_a_yolox_pth_asks_for_its_names(qtbot, tab, context, tmp_path, monkeypatch):
    from engine.features.detect.backends.yolox.random_weights import write_random_pth

    weights = write_random_pth(tmp_path / "boats.pth", "nano", num_classes=3, seed=2)
    with pytest.raises(NamesNeeded, match="3 classes"):
        user_entry(weights)
    names = tmp_path / "boat-kinds.txt"
    names.write_text("sail\nmotor\nrow\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", _qt_open_dialog)  # Qt's dialog, answerable here
    tab.show()
    _answer_file_dialog(str(names))
    with qtbot.waitSignal(tab.task_changed, timeout=20_000):
        tab.model_box.model_path_chosen.emit(str(weights))
    assert tab.entry.name == "my-boats" and tab.controller.class_names() == ("sail", "motor", "row")
    assert tab.controller.capabilities.grid_view and saved(context.store) == [(str(weights), str(names))]
    tab.settings_box.conf_slider.setValue(1)
    _detect_once(tab)
    assert len(tab.detections) > 0 and set(tab.detections.labels) <= {"sail", "motor", "row"}
    # A names file beside it is taken without asking.
    shutil.copy(names, tmp_path / "classes.txt")
    assert user_entry(weights).meta["names_path"] == str(tmp_path / "classes.txt")


def test_a_model_handed_over_by_another_tab_is_listed_when_detect_is_shown(qtbot, tab, context, rtdetr_folder):
    """Teach's "Use in Detect" writes the shared list (engine.models.user_model_list); the
    Detect tab that is already open lists the model the next time it is shown, and keeps
    the model it was running."""
    from engine.models import user_model_list

    running = tab.entry.name
    count = tab.model_box.combo.count()
    user_model_list.remember_path(context.store, str(rtdetr_folder))
    tab.activated()
    assert tab.model_box.combo.count() == count + 1
    assert tab.model_box.combo.itemText(count).startswith("my-parcels") and tab.entry.name == running
    assert "my-parcels is in the model list" in context.last_status
    tab.activated()  # already listed: nothing added twice
    assert tab.model_box.combo.count() == count + 1
    user_model_list.forget(context.store, [str(rtdetr_folder)])
