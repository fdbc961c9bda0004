"""The Detect tab's "Open model folder…" button, a real widget offscreen: the real folder
dialog opens, the picked folder is emitted as ``model_path_chosen``, and it opens as a
detector with ``open_model_dir``; a cancelled dialog emits nothing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.models.catalog import catalog
from gui.features.detect.model_box import DetectModelBox


def _answer_dialog(folder: str | None) -> None:
    """When the modal folder dialog shows, pick ``folder`` (None: cancel it)."""
    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(50, act)
            return
        if folder is None:
            dialog.reject()
        else:
            dialog.setDirectory(folder)
            dialog.accept()
    QTimer.singleShot(50, act)


@pytest.fixture
def box(qtbot, monkeypatch):
    # Qt's own dialog (not the desktop's), so the test can answer it.
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda parent, caption, start="": _qt_dialog(parent, caption))
    widget = DetectModelBox(catalog().entries("detect"))
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _qt_dialog(parent, caption) -> str:
    dialog = QFileDialog(parent, caption)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    return dialog.selectedFiles()[0] if dialog.exec() else ""


def test_picked_folder_is_emitted_and_opens(box, qtbot, tmp_path):
    from engine.features.detect.model_dir import open_model_dir
    from tests.detect.detr_oracle import save_random

    folder = tmp_path / "my-model"
    save_random(folder, "rt_detr", seed=6)
    assert box.folder_button.text() == "Open model folder…" and box.folder_button.isVisible()
    _answer_dialog(str(folder))
    with qtbot.waitSignal(box.model_path_chosen, timeout=10_000) as signal:
        qtbot.mouseClick(box.folder_button, Qt.MouseButton.LeftButton)
    assert signal.args == [str(folder)]
    detector = open_model_dir(signal.args[0])
    assert detector.capabilities.postprocess == "set" and detector.class_names[0] == "person"


def test_cancelled_dialog_emits_nothing(box, qtbot):
    _answer_dialog(None)
    with qtbot.assertNotEmitted(box.model_path_chosen, wait=200):
        qtbot.mouseClick(box.folder_button, Qt.MouseButton.LeftButton)
