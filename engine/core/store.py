"""The settings store: the user's settings as typed, validated key/value pairs.

Controllers and other engine code that remember a choice (a threshold, the last model)
take a :class:`SettingsStore`. The app gives them the one backed by its settings.ini
(``gui.common.settings.QSettingsStore``); the CLI and tests give them a
:class:`MemoryStore`. Both share :class:`BaseStore`, so a value is read, checked and
repaired the same way everywhere.

Keys are paths with "/" between groups, as QSettings spells them: "Detect/conf",
"Faces/threshold/lbp". ``store.group("Detect")`` is a view that prefixes "Detect/".

Reading: ``get(key, default, validator)`` returns a value of ``default``'s type (bool, int,
float, str, or a list of str), or of ``kind`` when the default is None. A missing key
gives the default. A value that cannot be converted (``"abc"`` for an int, ``"maybe"`` for
a bool, a non-finite float) or that ``validator`` rejects is logged, replaced in the
store by the default (removed when the default is None) and the default is returned: one
bad line in a settings file never stops a tab from opening, and it is fixed on disk.

Conversions accept what an INI file gives back: every scalar comes back as a string
("0.25", "true"); a one-element list comes back as a plain string and an empty list as
None. Values written in this process come back with their own types.

Threading: a store is used from one thread at a time (the GUI thread in the app).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What a raw read returns for a key that is not in the store.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class MalformedValue(ValueError):
    """A stored value that is not of the wanted type (the store falls back to the default)."""


# -- conversions: raw stored value -> typed value (MalformedValue when not possible) ---------
def to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise MalformedValue(f"{raw!r} is not a yes/no value (true or false)")


def to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise MalformedValue(f"{raw!r} is not a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise MalformedValue(f"{raw!r} is not a whole number")


def to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise MalformedValue(f"{raw!r} is not a number")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise MalformedValue(f"{raw!r} is not a number") from None
    else:
        raise MalformedValue(f"{raw!r} is not a number")
    if not math.isfinite(value):
        raise MalformedValue(f"{raw!r} is not a finite number")
    return value


def to_str(raw: Any) -> str:
    # The INI file gives text back as text; a number or a list there (a @Variant written by
    # hand, or by another program) is not the name or path this setting holds.
    if isinstance(raw, str):
        return raw
    raise MalformedValue(f"{raw!r} is not a text value")


def to_str_list(raw: Any) -> list[str]:
    if raw is None:
        return []  # how an INI file gives back an empty list
    if isinstance(raw, str):
        return [raw]  # how an INI file gives back a one-element list
    if isinstance(raw, (list, tuple)) and all(isinstance(item, (str, int, float)) for item in raw):
        return [str(item) for item in raw]
    raise MalformedValue(f"{raw!r} is not a list of text values")


CONVERTERS: dict[type, Callable[[Any], Any]] = {bool: to_bool, int: to_int, float: to_float, str: to_str, list: to_str_list}


def converter_for(kind: type) -> Callable[[Any], Any]:
    """The conversion for ``kind``: bool, int, float, str, list (a tuple reads as a list);
    any other type (e.g. the QByteArray of a window's saved state) is taken as stored when
    it is an instance of ``kind``."""
    if kind is tuple:
        kind = list
    if kind in CONVERTERS:
        return CONVERTERS[kind]

    def same_type(raw: Any) -> Any:
        if not isinstance(raw, kind):
            raise MalformedValue(f"{type(raw).__name__} is not {kind.__name__}")
        return raw

    return same_type


def join_key(prefix: str, key: str) -> str:
    prefix, key = prefix.strip("/"), key.strip("/")
    return f"{prefix}/{key}" if prefix and key else prefix or key


@runtime_checkable
class SettingsStore(Protocol):
    """What controllers and engine code need from a settings store."""

    def get(self, key: str, default: Any, validator: Callable[[Any], bool] | None = None, *,
            kind: type | None = None) -> Any:
        """The typed value of ``key``; ``default`` when missing, malformed or rejected (then repaired)."""

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (bool, int, float, str or a list of str) under ``key``."""

    def remove(self, key: str) -> None:
        """Forget ``key`` (and every key under it); nothing happens when it is not there."""

    def contains(self, key: str) -> bool: ...

    def keys(self) -> list[str]:
        """Every key of the store (of the group, for a group view), relative to it."""

    def group(self, prefix: str) -> "SettingsStore":
        """A view whose keys are relative to ``prefix`` ("Detect" -> "Detect/conf" is "conf")."""

    def sync(self) -> None:
        """Write pending changes to where the store keeps them (no-op in memory)."""


class BaseStore:
    """The typed reading, validation and repair on top of four raw operations.

    Subclasses implement ``read_raw(key)`` (``MISSING`` when absent), ``write_raw``,
    ``delete_raw`` (the key and every key under it) and ``raw_keys``.
    """

    # -- raw operations (subclasses) -------------------------------------------------
    def read_raw(self, key: str) -> Any:
        raise NotImplementedError

    def write_raw(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def delete_raw(self, key: str) -> None:
        raise NotImplementedError

    def raw_keys(self) -> list[str]:
        raise NotImplementedError

    def sync(self) -> None:
        """Write pending changes out (no-op unless the backend buffers)."""

    # -- the protocol --------------------------------------------------------------
    def get(self, key: str, default: Any, validator: Callable[[Any], bool] | None = None, *,
            kind: type | None = None) -> Any:
        """The value of ``key`` as ``kind`` (default: ``type(default)``).

        ``validator(value) -> bool`` rejects a well-typed value that makes no sense (a
        threshold above 1). Missing: ``default``. Malformed or rejected: logged, the
        default written back (the key removed when ``default`` is None), ``default``
        returned. A list default also accepts a tuple and returns a list.
        """
        if kind is None:
            if default is None:
                raise TypeError(f"settings key '{key}': give kind= when the default is None")
            kind = type(default)
        convert = converter_for(kind)
        raw = self.read_raw(key)
        if raw is MISSING:
            return default
        try:
            value = convert(raw)
            if validator is not None and not validator(value):
                raise MalformedValue(f"{value!r} is out of range")
        except (MalformedValue, TypeError, ValueError) as exc:
            shown = repr(raw) if len(repr(raw)) <= 60 else repr(raw)[:57] + "..."
            name = self.full_key(key)
            where = self.describe(key)[len(name):]  # e.g. " in /home/.../settings.ini"
            log.warning("settings: %s=%s is not valid (%s); using and saving the default %r%s", name, shown, exc,
                        default, where)
            self._repair(key, default)
            return default
        return value

    def _repair(self, key: str, default: Any) -> None:
        try:
            if default is None:
                self.delete_raw(key)
            else:
                self.write_raw(key, list(default) if isinstance(default, tuple) else default)
            self.sync()  # repaired on disk now: the next start reads a good value even after a crash
        except Exception:  # noqa: BLE001 - a read-only settings file must not break reading
            log.warning("setting %s could not be repaired", self.describe(key), exc_info=True)

    def set(self, key: str, value: Any) -> None:
        self.write_raw(key, list(value) if isinstance(value, tuple) else value)

    def remove(self, key: str) -> None:
        self.delete_raw(key)

    def contains(self, key: str) -> bool:
        return self.read_raw(key) is not MISSING

    def keys(self) -> list[str]:
        return sorted(self.raw_keys())

    def group(self, prefix: str) -> "GroupStore":
        return GroupStore(self, prefix)

    def describe(self, key: str) -> str:
        """How a key is named in log messages (the full key, then where it is stored)."""
        return key

    def full_key(self, key: str) -> str:
        """``key`` as the backend names it (a group's prefix included)."""
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())


class GroupStore(BaseStore):
    """A view of ``parent`` whose keys are relative to ``prefix``."""

    def __init__(self, parent: BaseStore, prefix: str) -> None:
        self.parent = parent
        self.prefix = prefix.strip("/")

    def read_raw(self, key: str) -> Any:
        return self.parent.read_raw(join_key(self.prefix, key))

    def write_raw(self, key: str, value: Any) -> None:
        self.parent.write_raw(join_key(self.prefix, key), value)

    def delete_raw(self, key: str) -> None:
        self.parent.delete_raw(join_key(self.prefix, key))

    def raw_keys(self) -> list[str]:
        start = self.prefix + "/"
        return [k[len(start):] for k in self.parent.raw_keys() if k.startswith(start)]

    def sync(self) -> None:
        self.parent.sync()

    def describe(self, key: str) -> str:
        return self.parent.describe(join_key(self.prefix, key))

    def full_key(self, key: str) -> str:
        return self.parent.full_key(join_key(self.prefix, key))


class MemoryStore(BaseStore):
    """A store in a dict (the CLI, tests, a headless controller). ``data``: initial raw values."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {k.strip("/"): v for k, v in (data or {}).items()}

    def read_raw(self, key: str) -> Any:
        with self._lock:
            return self._data.get(key.strip("/"), MISSING)

    def write_raw(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key.strip("/")] = value

    def delete_raw(self, key: str) -> None:
        key = key.strip("/")
        with self._lock:
            for k in [k for k in self._data if k == key or k.startswith(key + "/")]:
                del self._data[k]

    def raw_keys(self) -> list[str]:
        with self._lock:
            return list(self._data)

    def as_dict(self) -> dict[str, Any]:
        """A copy of every raw value."""
        with self._lock:
            return dict(self._data)
