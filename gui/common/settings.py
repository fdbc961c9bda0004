"""Where the user's GUI settings live: one INI file under the engine's config dir.

``CNN_STUDIO_HOME`` relocates it (portable installs, tests), because ``engine.core.paths``
puts ``config_dir()`` under that home when the variable is set.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

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


def read_bool(settings: QSettings, key: str, default: bool) -> bool:
    """Read a boolean robustly: the INI backend returns the strings "true"/"false"."""
    value = settings.value(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def read_int(settings: QSettings, key: str, default: int) -> int:
    """Read an integer; a missing or malformed value gives ``default``."""
    try:
        return int(settings.value(key, default))
    except (TypeError, ValueError):
        return default
