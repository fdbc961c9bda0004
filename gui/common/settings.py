"""Where the user's GUI settings live: one INI file under the engine's config dir.

``CNN_STUDIO_HOME`` relocates it (portable installs, tests), because ``engine.core.paths``
puts ``config_dir()`` under that home when the variable is set.

The file is the app's one settings store: ``QSettingsStore`` adapts the QSettings on it
to ``engine.core.store.SettingsStore``, so controllers, tabs and the window read the same
typed, validated values (a malformed value falls back to its default and is rewritten).
``read_setting`` (with bounds and choices) and ``read_bool``/``read_int``/``read_float``/
``read_str`` are that store's typed reads for code that holds a QSettings.

The file is the user's to edit, so any value in it may be malformed: "abc" for a number,
"nan", 99999999999 for a spin box that holds at most 2**31 - 1, a string where a list
belongs. Each read checks the value against its default's type and bounds and replaces a
bad one by the default, in memory and on disk, with a warning in the log: one bad line
can never take a tab down, and it is repaired once.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from PySide6.QtCore import QSettings

from engine.core.store import MISSING, BaseStore, SettingsStore

SETTINGS_FILENAME = "settings.ini"
# The app writes a few kilobytes; QSettings reads the whole file into memory (twice, while
# parsing), so a larger one is set aside rather than read.
MAX_SETTINGS_BYTES = 1024 * 1024
#: What a Qt spin box or slider holds; an int setting without bounds of its own is kept inside.
INT_RANGE = (-(2**31), 2**31 - 1)
#: Most items in a stored list (recent files and the like keep a handful).
MAX_LIST_ITEMS = 100

T = TypeVar("T")


log = logging.getLogger(__name__)


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


def read_setting(settings: "QSettings | SettingsStore", key: str, default: T, *, minimum: float | None = None,
                 maximum: float | None = None, choices: tuple | list | None = None,
                 valid: Callable[[Any], bool] | None = None) -> T:
    """The value stored under ``key``, of ``default``'s type, or ``default``.

    The type comes from ``default`` (bool, int, float, str, list of str; any other type —
    QByteArray for the window's saved state — by isinstance). Numbers must lie within
    ``minimum``..``maximum`` (ints without bounds within ``INT_RANGE``), ``choices`` are
    the allowed values, ``valid`` is a last check. A missing key gives ``default``; a
    value that fails is logged, replaced by ``default`` on disk, and ``default`` returned.
    """
    low, high = minimum, maximum
    if isinstance(default, int) and not isinstance(default, bool):
        low = INT_RANGE[0] if low is None else low
        high = INT_RANGE[1] if high is None else high

    def acceptable(value: Any) -> bool:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (low is not None and value < low) or (high is not None and value > high):
                return False
        if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            return False
        if choices is not None and value not in choices:
            return False
        return valid is None or bool(valid(value))

    return as_store(settings).get(key, default, acceptable)


def read_bool(settings: "QSettings | SettingsStore", key: str, default: bool,
              validator: Callable[[bool], bool] | None = None) -> bool:
    """A yes/no setting: the INI backend returns the strings "true"/"false"; anything else
    gives ``default`` (and the default is written back)."""
    return as_store(settings).get(key, bool(default), validator)


def read_int(settings: "QSettings | SettingsStore", key: str, default: int, minimum: int | None = None,
             maximum: int | None = None, validator: Callable[[int], bool] | None = None) -> int:
    """An integer within ``minimum``..``maximum`` (else ``INT_RANGE``); a missing, malformed or
    rejected value gives ``default`` (written back when not missing)."""
    return read_setting(settings, key, int(default), minimum=minimum, maximum=maximum, valid=validator)


def read_float(settings: "QSettings | SettingsStore", key: str, default: float,
               validator: Callable[[float], bool] | None = None) -> float:
    """A finite number; a missing, malformed or rejected value gives ``default``."""
    return as_store(settings).get(key, float(default), validator)


def read_str(settings: "QSettings | SettingsStore", key: str, default: str,
             validator: Callable[[str], bool] | None = None) -> str:
    """A text value; a list or a rejected value gives ``default``."""
    return as_store(settings).get(key, str(default), validator)
