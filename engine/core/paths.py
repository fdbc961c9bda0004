"""Where CNN Studio keeps the user's data, cache and settings.

Everything lives under one root when ``$CNN_STUDIO_HOME`` is set (portable installs,
tests); otherwise the platform's conventional per-user folders are used. A folder that
cannot be created (a file in its place, a read-only disk) raises PathsError, an OSError
whose message names the folder and the variable to change.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import platformdirs

APP_NAME = "cnn-studio"
HOME_ENV = "CNN_STUDIO_HOME"
MODELS_ENV = "CNN_STUDIO_MODELS"


class PathsError(OSError):
    """A data folder cannot be used (a file in its place, a read-only disk); says which and what to do."""


def _ensure(path: Path, variable: str | None = None) -> Path:
    """Create ``path`` if needed; PathsError naming it (and the variable that chose it) otherwise."""
    hint = f" (chosen by ${variable}; point it at a writable folder)" if variable and os.environ.get(variable, "").strip() \
        else f" (set ${HOME_ENV} to a writable folder)"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise PathsError(errno.ENOTDIR, f"{path} is not a folder: a file is in the way{hint}") from exc
    except OSError as exc:
        why = "the disk or folder is read-only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else (exc.strerror or str(exc))
        raise PathsError(exc.errno or errno.EIO, f"cannot create the folder {path}: {why}{hint}") from exc
    if not path.is_dir():
        raise PathsError(errno.ENOTDIR, f"{path} is not a folder{hint}")
    return path


def _override() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def home() -> Path:
    """The root of the user's data (``$CNN_STUDIO_HOME`` or the platform data dir)."""
    root = _override()
    return _ensure(root if root is not None else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)), HOME_ENV)


def data_dir() -> Path:
    """User data worth keeping: the face gallery, recent styles."""
    root = _override()
    return _ensure(root / "data" if root is not None else home(), HOME_ENV)


def cache_dir() -> Path:
    """Re-creatable data: downloaded weights live under ``models_dir()`` inside it."""
    root = _override()
    return _ensure(root / "cache" if root is not None else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)), HOME_ENV)


def config_dir() -> Path:
    """Settings (settings.ini)."""
    root = _override()
    return _ensure(root / "config" if root is not None else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)), HOME_ENV)


def models_dir() -> Path:
    """Installed model files, one sub-folder per catalog entry."""
    override = os.environ.get(MODELS_ENV, "").strip()
    return _ensure(Path(override).expanduser() if override else cache_dir() / "models", MODELS_ENV if override else HOME_ENV)


def resources_dir() -> Path:
    """The ``resources/`` folder the app ships (class names, Darknet cfgs, style presets)."""
    return Path(__file__).resolve().parents[2] / "resources"
