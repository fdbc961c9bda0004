"""Where CNN Studio keeps the user's data, cache and settings.

Everything lives under one root when ``$CNN_STUDIO_HOME`` is set (portable installs,
tests); otherwise the platform's conventional per-user folders are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "cnn-studio"
HOME_ENV = "CNN_STUDIO_HOME"


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _override() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def home() -> Path:
    """The root of the user's data (``$CNN_STUDIO_HOME`` or the platform data dir)."""
    root = _override()
    return _ensure(root if root is not None else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def data_dir() -> Path:
    """User data worth keeping: the face gallery, recent styles."""
    root = _override()
    return _ensure(root / "data" if root is not None else home())


def cache_dir() -> Path:
    """Re-creatable data: downloaded weights live under ``models_dir()`` inside it."""
    root = _override()
    return _ensure(root / "cache" if root is not None else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)))


def config_dir() -> Path:
    """Settings (settings.ini)."""
    root = _override()
    return _ensure(root / "config" if root is not None else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def models_dir() -> Path:
    """Installed model files, one sub-folder per catalog entry."""
    override = os.environ.get("CNN_STUDIO_MODELS", "").strip()
    return _ensure(Path(override).expanduser() if override else cache_dir() / "models")
