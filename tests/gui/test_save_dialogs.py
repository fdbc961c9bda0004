"""Save dialogs open in the last folder used (the one an open dialog just picked from), through
one helper, gui.common.file_dialogs, which every file dialog of the app goes through."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from gui.common import file_dialogs
from gui.common.context import AppContext

ROOT = Path(__file__).resolve().parents[2]


class DialogSpy:
    """Answers the next file dialog: notes where it opened, then picks ``answer`` (or cancels)."""

    def __init__(self, qtbot, answer: str | None = None) -> None:
        self.qtbot, self.answer = qtbot, answer
        self.directory: str | None = None
        self.selected: list[str] = []

    def arm(self) -> None:
        QTimer.singleShot(50, self._answer)

    def _answer(self) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(50, self._answer)
            return
        self.directory = dialog.directory().absolutePath()
        self.selected = dialog.selectedFiles()
        if self.answer is None:
            dialog.reject()
        else:
            dialog.selectFile(self.answer)
            dialog.accept()


@pytest.fixture
def context(tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return AppContext(settings, torch.device("cpu"))


def _open_a_file_in(qtbot, folder: Path) -> None:
    """What the user does first: open a video from ``folder`` with an open dialog."""
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "birds.mp4"
    video.write_bytes(b"\0" * 16)
    spy = DialogSpy(qtbot, str(video))
    spy.arm()
    assert file_dialogs.open_file(None, "Open a video") == str(video)


def test_faces_gallery_export_opens_where_the_last_file_was_opened(qtbot, context, tmp_path):
    from gui.features.faces.gallery import GalleryManager

    _open_a_file_in(qtbot, tmp_path / "Videos" / "birds")
    manager = GalleryManager(context.error, context.status)
    qtbot.addWidget(manager)
    spy = DialogSpy(qtbot)
    spy.arm()
    manager._ask_export()
    assert spy.directory == str(tmp_path / "Videos" / "birds")
    assert spy.selected and Path(spy.selected[0]).name == "faces.zip"


def test_a_save_remembers_its_folder_for_the_next_save(qtbot, context, tmp_path):
    from gui.features.inspect.visualise import VisualisePage

    target = tmp_path / "Pictures" / "out"
    target.mkdir(parents=True)
    panel = VisualisePage()
    qtbot.addWidget(panel)
    saved = []
    panel.save_requested.connect(saved.append)
    spy = DialogSpy(qtbot, str(target / "feature.png"))
    spy.arm()
    panel._ask_save()
    assert saved == [str(target / "feature.png")]
    again = DialogSpy(qtbot)
    again.arm()
    panel._ask_save()
    assert again.directory == str(target)


def test_no_file_dialog_bypasses_the_shared_helper():
    """QFileDialog's static pickers are called in gui/common/file_dialogs.py only."""
    offenders = []
    for path in (ROOT / "gui").rglob("*.py"):
        if path.name == "file_dialogs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "QFileDialog"
                    and node.attr.startswith("get")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert offenders == []
