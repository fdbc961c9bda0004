"""Batch at scale: one model over many images and videos, on Ray, resumable, into Parquet.

Not a feature of its own (no tab, no models): it sits above the features, as
``engine.api`` does, and maps a feature's per-frame step over whole inputs. The pieces:
``inputs`` (what the units of work are), ``detect``, ``segment`` and ``faces`` (the task
mappings of ``batch detect``, ``batch segment`` and ``batch faces``: one class per task),
``store`` (the output folder, committed exactly once per input), ``runner`` (Ray actors,
progress, a cluster that goes away). Ray and pyarrow are
the optional ``scale`` dependencies: importing this package needs neither; the modules
that use them say what to install (``runner.require_scale``).
"""

from __future__ import annotations

from engine.core.errors import UserError

INSTALL_HINT = "pip install 'cnn-studio[scale]' (Ray and pyarrow)"


class ScaleMissingError(UserError, ImportError):
    """Ray or pyarrow is not installed."""


def require_scale() -> None:
    """ScaleMissingError with the one install line when Ray or pyarrow is missing."""
    import importlib

    missing = []
    for module in ("ray", "pyarrow"):
        try:
            importlib.import_module(module)
        except ImportError:  # not installed, or installed broken: the same fix
            missing.append(module)
    if missing:
        raise ScaleMissingError(f"batch needs {' and '.join(missing)}", f"install them with: {INSTALL_HINT}")
