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
_app_settings: list[QSettings] = []  # the application's settings, once it has some (use_settings)


def use_settings(settings: QSettings) -> None:
    """Make ``settings`` (the app's own QSettings) where every dialog keeps the last folder;
    ``AppContext`` calls it, so dialogs deep in a tab need not be handed the settings."""
    _app_settings[:] = [settings]


def _settings(settings: QSettings | None) -> QSettings:
    if settings is not None:
        return settings
    if _app_settings:
        return _app_settings[0]
    from gui.common.settings import open_settings

    return open_settings()


def last_folder(settings: QSettings | None = None) -> str:
    """The folder of the last file or folder picked (the home folder at first)."""
    from gui.common.settings import read_setting

    value = read_setting(_settings(settings), KEY_LAST_FOLDER, "")
    if value and Path(value).is_dir():
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


def open_folder(parent: QWidget | None, title: str, settings: QSettings | None = None, start: str | None = None) -> str:
    """``start``: where to open instead of the last folder (e.g. the folder of Teach projects)."""
    path = QFileDialog.getExistingDirectory(parent, title, start or last_folder(settings))
    remember(path, settings)
    return path


def save_file(parent: QWidget | None, title: str, suggested_name: str, filters: str = "All files (*)",
              settings: QSettings | None = None) -> str:
    """Every save dialog of the app: opens in the last folder used (by any open or save
    dialog) with ``suggested_name`` filled in; remembers the folder of the file chosen."""
    start = str(Path(last_folder(settings)) / suggested_name)
    path, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
    remember(path, settings)
    return path
