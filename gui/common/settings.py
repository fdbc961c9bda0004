"""Where the user's GUI settings live (one INI file under the engine's config dir), and the
one way every stored value is read back: ``read_setting``.

``CNN_STUDIO_HOME`` relocates the file (portable installs, tests), because ``engine.core.paths``
puts ``config_dir()`` under that home when the variable is set.

The file is the user's to edit, so any value in it may be malformed: "abc" for a number,
"nan", 99999999999 for a spin box that holds at most 2**31 - 1, a string where a list
belongs. ``read_setting`` checks each value against the type of its default and against
bounds, and replaces a bad one by the default — in memory and on disk, with a warning in
the log — so one bad line can never take a tab down, and is repaired once.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QSettings

log = logging.getLogger(__name__)

SETTINGS_FILENAME = "settings.ini"
#: What a Qt spin box or slider holds; an int setting without bounds of its own is kept inside.
INT_RANGE = (-(2**31), 2**31 - 1)
#: Most items in a stored list (recent files and the like keep a handful).
MAX_LIST_ITEMS = 100

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_INT_TEXT = re.compile(r"^[+-]?\d{1,19}$")

T = TypeVar("T")


def settings_path() -> Path:
    """The INI file path: ``engine.core.paths.config_dir() / "settings.ini"``."""
    from engine.core.paths import config_dir

    return Path(config_dir()) / SETTINGS_FILENAME


def open_settings(path: Path | None = None) -> QSettings:
    """A QSettings in IniFormat on ``path`` (default: ``settings_path()``)."""
    target = path if path is not None else settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(target), QSettings.Format.IniFormat)


def read_setting(settings: Any, key: str, default: T, *, minimum: float | None = None, maximum: float | None = None,
                 choices: tuple | list | None = None, valid: Callable[[Any], bool] | None = None) -> T:
    """The value stored under ``key``, of ``default``'s type, or ``default``.

    settings: a QSettings, or any object with ``value(key)``, ``setValue(key, value)``
    (and, optionally, ``contains``/``sync``). The type comes from ``default``:
    bool ("true"/"false"/"1"/"0"/...), int (also written as text; within
    minimum..maximum, else within ``INT_RANGE``), float (finite, within the bounds),
    str, list of str (a single string counts as a one-item list; at most
    ``MAX_LIST_ITEMS``), or any other type by isinstance (QByteArray for window state).
    ``choices``: the allowed values; ``valid``: a last check on the converted value.

    A missing key gives ``default``. A value that fails any check is logged as a warning
    and replaced by ``default`` in the file, so the next start reads a good one.
    """
    has_key = getattr(settings, "contains", None)
    if callable(has_key) and not has_key(key):
        return default
    raw = settings.value(key)
    if raw is None and not callable(has_key):
        return default
    try:
        value = _convert(raw, default, minimum, maximum)
        if choices is not None and value not in choices:
            raise ValueError(f"not one of {', '.join(map(str, choices))}")
        if valid is not None and not valid(value):
            raise ValueError("not a valid value")
    except (TypeError, ValueError, OverflowError) as exc:
        shown = repr(raw) if len(repr(raw)) <= 60 else repr(raw)[:57] + "..."
        log.warning("settings: %s=%s is not valid (%s); using and saving the default %r", key, shown, exc, default)
        settings.setValue(key, default)
        sync = getattr(settings, "sync", None)
        if callable(sync):
            sync()
        return default
    return value


def _convert(raw: Any, default: Any, minimum: float | None, maximum: float | None) -> Any:
    """``raw`` as ``default``'s type within the bounds; ValueError/TypeError say why not."""
    if isinstance(default, bool):
        text = str(raw).strip().lower()
        if isinstance(raw, bool):
            return raw
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError("not true or false")
    if isinstance(default, int):
        if isinstance(raw, bool):
            raise ValueError("not a whole number")
        if isinstance(raw, str) and _INT_TEXT.match(raw.strip()):
            value = int(raw.strip())
        elif isinstance(raw, int):
            value = raw
        elif isinstance(raw, float) and raw.is_integer():
            value = int(raw)
        else:
            raise ValueError("not a whole number")
        low, high = (INT_RANGE[0] if minimum is None else minimum), (INT_RANGE[1] if maximum is None else maximum)
        return _within(value, low, high)
    if isinstance(default, float):
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError("not a number")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return _within(value, minimum, maximum)
    if isinstance(default, str):
        if not isinstance(raw, str):
            raise TypeError(f"not text but {type(raw).__name__}")
        return raw
    if isinstance(default, (list, tuple)):
        # The INI file holds a one-item list as plain text and an empty one as @Invalid().
        items = [] if raw is None else [raw] if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
            raise TypeError("not a list of text")
        if len(items) > MAX_LIST_ITEMS:
            raise ValueError(f"more than {MAX_LIST_ITEMS} items")
        return list(items)
    if not isinstance(raw, type(default)):  # e.g. QByteArray for the window's saved state
        raise TypeError(f"not {type(default).__name__} but {type(raw).__name__}")
    return raw


def _within(value: float, low: float | None, high: float | None) -> float:
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"outside {low:g} to {high:g}" if low is not None and high is not None else "out of range")
    return value


def read_bool(settings: Any, key: str, default: bool) -> bool:
    """``read_setting`` for a boolean (the INI backend returns the strings "true"/"false")."""
    return read_setting(settings, key, bool(default))


def read_int(settings: Any, key: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    """``read_setting`` for an integer within ``minimum``..``maximum`` (else ``INT_RANGE``)."""
    return read_setting(settings, key, int(default), minimum=minimum, maximum=maximum)


class CheckedStore:
    """The settings as the Qt-free controllers see them: ``value``/``setValue``, every read
    with a default going through ``read_setting``.

    ranges: key -> (minimum, maximum) for the numbers the controller stores (the
    controller declares them next to its keys). A read without a default returns the
    stored value unchecked, as QSettings does.
    """

    def __init__(self, settings: Any, ranges: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.settings = settings
        self.ranges = dict(ranges or {})

    def value(self, key: str, default: Any = None) -> Any:
        if default is None:
            return self.settings.value(key)
        low, high = self.ranges.get(key, (None, None))
        return read_setting(self.settings, key, default, minimum=low, maximum=high)

    def setValue(self, key: str, value: Any) -> None:  # noqa: N802 (QSettings' name)
        self.settings.setValue(key, value)

    def remove(self, key: str) -> None:
        self.settings.remove(key)

    def contains(self, key: str) -> bool:
        return bool(self.settings.contains(key))

    def sync(self) -> None:
        self.settings.sync()
