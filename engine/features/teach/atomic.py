"""Atomic file writes for Teach, through the one writer of ``engine.core.safe_files``.

A reader (or a process restarted after a crash, even ``kill -9``) sees either the old
file or the new one, never half of one. Temporary files start with a dot (hidden), so
folder scans skip them, and ``remove_stale_temps`` deletes those a killed writer left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.core.safe_files import TEMP_MARK, atomic_write_bytes, json_text

# Temporaries of earlier versions, which wrote ".tmp-<random><suffix>".
TMP_PREFIX = ".tmp-"


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (the parent folder is created)."""
    return atomic_write_bytes(path, data)


def write_json(path: str | os.PathLike[str], value: Any) -> Path:
    """``value`` as indented UTF-8 JSON (always valid: see ``json_text``), written atomically."""
    return write_bytes(path, (json_text(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def remove_stale_temps(folder: Path) -> int:
    """Delete temporary files a killed writer left in ``folder``; returns how many."""
    count = 0
    if folder.is_dir():
        for pattern in (TMP_PREFIX + "*", f".*{TEMP_MARK}*"):
            for stale in folder.glob(pattern):
                if stale.is_file():
                    stale.unlink(missing_ok=True)
                    count += 1
    return count
