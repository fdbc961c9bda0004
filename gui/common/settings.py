"""Where the user's GUI settings live: one INI file under the engine's config dir.

``CNN_STUDIO_HOME`` relocates it (portable installs, tests), because ``engine.core.paths``
puts ``config_dir()`` under that home when the variable is set.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

from PySide6.QtCore import QSettings

log = logging.getLogger(__name__)

SETTINGS_FILENAME = "settings.ini"
# The app writes a few kilobytes; QSettings reads the whole file into memory (twice, while
# parsing), so a larger one is set aside rather than read.
MAX_SETTINGS_BYTES = 1024 * 1024


def settings_path() -> Path:
    """The INI file path: ``engine.core.paths.config_dir() / "settings.ini"``."""
    from engine.core.paths import config_dir

    return Path(config_dir()) / SETTINGS_FILENAME


def set_aside_unusable(path: Path | None = None) -> str | None:
    """Rename a settings file that cannot be read safely to ``settings.ini.bad-<time>``.

    A FIFO (QSettings would block opening it, before the window appears and deaf to
    SIGTERM), a device, a folder, or a file over MAX_SETTINGS_BYTES (read whole) is moved
    out of the way, so the app starts with default settings; nothing else of the user's
    is touched. Only ``stat`` looks at it (that never blocks). Returns the message to
    show, or None when the file is fine or absent.
    """
    target = path if path is not None else settings_path()
    try:
        info = os.stat(target)
    except OSError:
        return None  # absent (QSettings starts empty) or unreachable (QSettings reports it)
    if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_SETTINGS_BYTES:
        return None
    from engine.core.limits import human_bytes
    from engine.core.regular_files import describe_kind

    why = (f"is {describe_kind(info.st_mode)}" if not stat.S_ISREG(info.st_mode)
           else f"is {human_bytes(info.st_size)}, more than the {human_bytes(MAX_SETTINGS_BYTES)} a settings file can be")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = target.with_name(f"{target.name}.bad-{stamp}")
    number = 1
    while os.path.lexists(aside):
        number += 1
        aside = target.with_name(f"{target.name}.bad-{stamp}-{number}")
    try:
        os.rename(target, aside)
    except OSError as exc:
        message = (f"the settings file {target} {why} and could not be moved aside ({exc.strerror or exc}); "
                   "move or delete it, then start CNN Studio again")
        log.error("%s", message)
        raise OSError(message) from None
    message = (f"the settings file {target} {why}: it was moved to {aside.name} and the default settings "
               "are used (your models, galleries and projects are untouched)")
    log.warning("%s", message)
    return message


def open_settings(path: Path | None = None) -> QSettings:
    """A QSettings in IniFormat on ``path`` (default: ``settings_path()``); a settings file
    that cannot be read safely is set aside first (``set_aside_unusable``)."""
    target = path if path is not None else settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    set_aside_unusable(target)
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
