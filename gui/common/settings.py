"""Where the user's GUI settings live: one INI file under the engine's config dir.

``CNN_STUDIO_HOME`` relocates it (portable installs, tests), because ``engine.core.paths``
puts ``config_dir()`` under that home when the variable is set.

The file is the app's one settings store: ``QSettingsStore`` adapts the QSettings on it
to ``engine.core.store.SettingsStore``, so controllers, tabs and the window read the same
typed, validated values (a malformed value falls back to its default and is rewritten).
``read_bool``/``read_int``/``read_float``/``read_str`` are that store's typed reads for
code that holds a QSettings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QSettings

from engine.core.store import MISSING, BaseStore, SettingsStore

SETTINGS_FILENAME = "settings.ini"


def settings_path() -> Path:
    """The INI file path: ``engine.core.paths.config_dir() / "settings.ini"``."""
    from engine.core.paths import config_dir

    return Path(config_dir()) / SETTINGS_FILENAME


def open_settings(path: Path | None = None) -> QSettings:
    """A QSettings in IniFormat on ``path`` (default: ``settings_path()``)."""
    target = path if path is not None else settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(target), QSettings.Format.IniFormat)


class QSettingsStore(BaseStore):
    """The settings store on a QSettings (the app's settings.ini). Use it on the GUI thread."""

    def __init__(self, settings: QSettings) -> None:
        self.qsettings = settings

    def read_raw(self, key: str) -> Any:
        if not self.qsettings.contains(key):
            return MISSING
        return self.qsettings.value(key)

    def write_raw(self, key: str, value: Any) -> None:
        self.qsettings.setValue(key, value)

    def delete_raw(self, key: str) -> None:
        self.qsettings.remove(key)

    def raw_keys(self) -> list[str]:
        return list(self.qsettings.allKeys())

    def sync(self) -> None:
        self.qsettings.sync()

    def describe(self, key: str) -> str:
        return f"{key} in {self.qsettings.fileName()}"


def as_store(settings: "QSettings | SettingsStore") -> BaseStore:
    """``settings`` as a store: a QSettings is wrapped, a store is returned as it is."""
    if isinstance(settings, BaseStore):
        return settings
    if isinstance(settings, QSettings):
        return QSettingsStore(settings)
    raise TypeError(f"expected a QSettings or a settings store, got {type(settings).__name__}")


def read_bool(settings: "QSettings | SettingsStore", key: str, default: bool,
              validator: Callable[[bool], bool] | None = None) -> bool:
    """A yes/no setting: the INI backend returns the strings "true"/"false"; anything else
    gives ``default`` (and the default is written back)."""
    return as_store(settings).get(key, bool(default), validator)


def read_int(settings: "QSettings | SettingsStore", key: str, default: int,
             validator: Callable[[int], bool] | None = None) -> int:
    """An integer; a missing, malformed or rejected value gives ``default`` (written back when not missing)."""
    return as_store(settings).get(key, int(default), validator)


def read_float(settings: "QSettings | SettingsStore", key: str, default: float,
               validator: Callable[[float], bool] | None = None) -> float:
    """A finite number; a missing, malformed or rejected value gives ``default``."""
    return as_store(settings).get(key, float(default), validator)


def read_str(settings: "QSettings | SettingsStore", key: str, default: str,
             validator: Callable[[str], bool] | None = None) -> str:
    """A text value; a list or a rejected value gives ``default``."""
    return as_store(settings).get(key, str(default), validator)
