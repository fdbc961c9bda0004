"""The output folder of a batch run: committed inputs, exactly once, and what failed.

Layout of ``--out DIR``::

    run.json                 the task and its settings; a resumed run must match them
    parts/<key>/<table>.parquet   one folder per finished input (key: BatchInput.key),
                                  one Parquet file per table of the task, plus meta.json
    manifest.json            source -> key, rows per table, for every committed input
    failures.json            inputs of the latest run that could not be processed, with why

Exactly once: an input's tables are written into ``parts/.tmp-<key>-<random>/`` and
committed by renaming that folder to ``parts/<key>`` (one atomic rename on POSIX, after
fsync), so a run killed at any instant leaves each input either committed whole or
absent; the next run with the same folder skips the committed keys and removes the
leftover temporaries. The manifest is rewritten (atomically) from the committed folders,
which are the truth. One run at a time per folder (an advisory lock, ``.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.errors import UserError
from engine.core.safe_files import atomic_write_json

log = logging.getLogger(__name__)

FORMAT = 1


class BatchFolderError(UserError, ValueError):
    """An --out folder that cannot hold this run (another run's settings, in use, not a folder)."""


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class BatchStore:
    """``--out`` of one run. ``open`` checks/records the run's settings and takes the lock."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.parts = self.root / "parts"
        self._lock_fd: int | None = None
        self.failures: list[dict[str, str]] = []

    # -- opening -------------------------------------------------------------------------
    def open(self, settings: dict[str, Any]) -> None:
        """Create the folder or resume it; BatchFolderError when it belongs to another run
        (different settings), is in use by a running batch, or is not a folder."""
        if self.root.exists() and not self.root.is_dir():
            raise BatchFolderError(f"--out {self.root}: is a file", "give a folder (it is created if missing)")
        self.parts.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise BatchFolderError(f"--out {self.root}: another batch run is writing to it",
                                   "wait for it to finish or give another folder") from None
        self._lock_fd = fd
        recorded = self.root / "run.json"
        wanted = {"format": FORMAT, **settings}
        if recorded.exists():
            try:
                previous = json.loads(recorded.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BatchFolderError(f"--out {self.root}: run.json cannot be read ({exc})",
                                       "give a new folder for this run") from exc
            if previous != json.loads(json.dumps(wanted)):
                changed = sorted(k for k in set(previous) | set(wanted) if previous.get(k) != wanted.get(k))
                raise BatchFolderError(f"--out {self.root} holds a run with other settings ({', '.join(changed)} differ)",
                                       "resume it with the same command, or give a new folder")
        else:
            atomic_write_json(recorded, wanted, indent=2)
        for stale in self.parts.glob(".tmp-*"):  # an input a killed run was writing: redone
            shutil.rmtree(stale, ignore_errors=True)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def __enter__(self) -> "BatchStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what is done --------------------------------------------------------------------
    def committed(self) -> set[str]:
        """Keys of the inputs whose results are in the folder."""
        return {p.name for p in self.parts.iterdir() if not p.name.startswith(".") and p.is_dir()}

    def commit(self, key: str, source: str, tables: dict[str, pa.Table], seconds: float) -> None:
        """Write ``tables`` of one input and make them visible in one rename (see the module doc).
        A key committed already (a duplicate result) is dropped, never doubled."""
        final = self.parts / key
        if final.exists():
            log.warning("%s is committed already; its second result is dropped", source)
            return
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=self.parts))
        try:
            for name, table in tables.items():
                pq.write_table(table, tmp / f"{name}.parquet")
            meta = {"source": source, "rows": {name: t.num_rows for name, t in tables.items()}, "seconds": round(seconds, 3)}
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            for child in tmp.iterdir():
                fd = os.open(child, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            _fsync_dir(tmp)
            os.rename(tmp, final)
            _fsync_dir(self.parts)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def fail(self, source: str, reason: str) -> None:
        """Record an input that could not be processed (rewrites failures.json at once)."""
        self.failures.append({"source": source, "reason": reason})
        atomic_write_json(self.root / "failures.json", self.failures, indent=2)

    def write_manifest(self) -> dict[str, Any]:
        """manifest.json from the committed folders; returns it."""
        inputs = {}
        for key in sorted(self.committed()):
            try:
                meta = json.loads((self.parts / key / "meta.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            inputs[meta["source"]] = {"key": key, "rows": meta["rows"]}
        manifest = {"format": FORMAT, "inputs": inputs}
        atomic_write_json(self.root / "manifest.json", manifest, indent=1)
        if not self.failures and (self.root / "failures.json").exists():
            atomic_write_json(self.root / "failures.json", [], indent=2)
        return manifest


def part_files(root: str | os.PathLike[str], table: str) -> list[Path]:
    """The committed Parquet files of ``table`` ("detections", "frames") under ``root``."""
    parts = Path(root).expanduser() / "parts"
    return sorted(p / f"{table}.parquet" for p in parts.iterdir() if not p.name.startswith(".") and p.is_dir())


def read_table(root: str | os.PathLike[str], table: str) -> pa.Table:
    """Every committed row of ``table``, sorted by source then frame (as one in-memory table)."""
    files = part_files(root, table)
    if not files:
        raise BatchFolderError(f"{root}: no finished inputs yet", "run `batch` with this --out first")
    combined = pa.concat_tables([pq.read_table(f) for f in files])
    return combined.sort_by([("source", "ascending"), ("frame", "ascending")])


def iter_sources(root: str | os.PathLike[str]) -> Iterator[str]:
    """The sources committed under ``root`` (from the parts' meta.json)."""
    for path in sorted((Path(root).expanduser() / "parts").glob("*/meta.json")):
        yield json.loads(path.read_text(encoding="utf-8"))["source"]
