"""Atomic file writes: a temporary file in the same folder, flushed to disk, then renamed.

A reader (or a process restarted after a crash, even ``kill -9``) sees either the old
file or the new one, never half of one. Temporary files start with ``.tmp-`` so folder
scans can skip them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (the parent folder is created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=target.suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def write_json(path: str | os.PathLike[str], value: Any) -> Path:
    """``value`` as indented UTF-8 JSON, written atomically."""
    return write_bytes(path, (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def remove_stale_temps(folder: Path) -> int:
    """Delete temporary files a killed writer left in ``folder``; returns how many."""
    count = 0
    if folder.is_dir():
        for stale in folder.glob(TMP_PREFIX + "*"):
            stale.unlink(missing_ok=True)
            count += 1
    return count
