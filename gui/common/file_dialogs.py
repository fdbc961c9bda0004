"""File dialogs that open where the user was last, not in the program's working folder.

Every dialog of the app goes through these functions; the folder of the last pick is kept
in the user's settings (``dialogs/last_folder``), shared by all dialogs, because a user
who just opened a video from ~/Videos/birds most likely wants that folder next too.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

KEY_LAST_FOLDER = "dialogs/last_folder"


def _settings(settings: QSettings | None) -> QSettings:
    if settings is not None:
        return settings
    from gui.common.settings import open_settings

    return open_settings()


def last_folder(settings: QSettings | None = None) -> str:
    """The folder of the last file or folder picked (the home folder at first)."""
    value = _settings(settings).value(KEY_LAST_FOLDER, "")
    if isinstance(value, str) and value and Path(value).is_dir():
        return value
    return str(Path.home())


def remember(path: str, settings: QSettings | None = None) -> None:
    """Remember the folder of ``path`` (or ``path`` itself when it is a folder)."""
    if not path:
        return
    picked = Path(path)
    folder = picked if picked.is_dir() else picked.parent
    store = _settings(settings)
    store.setValue(KEY_LAST_FOLDER, str(folder))


def open_file(parent: QWidget | None, title: str, filters: str = "All files (*)", settings: QSettings | None = None) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, last_folder(settings), filters)
    remember(path, settings)
    return path


def open_files(parent: QWidget | None, title: str, filters: str = "All files (*)", settings: QSettings | None = None) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, last_folder(settings), filters)
    if paths:
        remember(paths[0], settings)
    return list(paths)


def open_folder(parent: QWidget | None, title: str, settings: QSettings | None = None) -> str:
    path = QFileDialog.getExistingDirectory(parent, title, last_folder(settings))
    remember(path, settings)
    return path


def save_file(parent: QWidget | None, title: str, suggested_name: str, filters: str = "All files (*)",
              settings: QSettings | None = None) -> str:
    start = str(Path(last_folder(settings)) / suggested_name)
    path, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
    remember(path, settings)
    return path
