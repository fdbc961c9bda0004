"""One embedder's gallery as plain arrays, read from the SQLite file without writing to it.

``Gallery`` (gallery.py) is the store a person edits: it creates a missing file, restores
a damaged one from a backup and re-embeds shots as it goes. A batch run must do none of
that: the file may be on a laptop's disk that the cluster's workers cannot see, and it
must not change under a run. So the driver reads it once, read-only (``read_snapshot``),
and ships the arrays: workers match against them (``GalleryMatcher.load``) and never open
the database. A missing, damaged or foreign file is one GalleryError, touching nothing.

Shots without a vector of the embedder (enrolled with another one) are embedded from
their stored thumbnails in memory, as ``FaceRecognizer.prepare_gallery`` does before it
stores them; nothing is written back.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.features.faces.gallery_records import GalleryDamagedError, GalleryError, decode_chip

_SQLITE_MAGIC = b"SQLite format 3\x00"
_REQUIRED_TABLES = {"meta", "people", "shots", "embeddings"}
_READABLE_SCHEMA = 1  # gallery.SCHEMA_VERSION (not imported: that module opens files read-write)


@dataclass(frozen=True, eq=False)
class GallerySnapshot:
    """The gallery's rows of one embedder: what 1:N matching needs, picklable.

    keys: (M,) int64, one per row (the embedding id; minus the shot id for a vector
    computed here from a thumbnail); labels: (M,) int64 person ids; vectors: (M, D)
    float32 in the embedder's space; names: {person id: name} of everyone, also those
    without rows. ``computed`` says how many rows were embedded here (not stored);
    ``stamp``: sha256 of what was read (names, stored rows, the thumbnails embedded here),
    what tells an edited gallery from the one a run started with.
    """

    path: str
    embedder: str
    keys: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    vectors: np.ndarray = field(repr=False)
    names: dict[int, str] = field(repr=False)
    computed: int = 0
    stamp: str = ""

    @property
    def people(self) -> int:
        return len(self.names)


def read_snapshot(path: str | os.PathLike[str], embedder: str, dim: int,
                  embed: Callable[[Sequence[np.ndarray]], np.ndarray] | None = None) -> GallerySnapshot:
    """The rows of ``embedder`` (vectors of ``dim`` values) in the gallery file ``path``.

    embed: chips -> (N, dim) float32, called once for the shots that have no vector of
    ``embedder`` (None: such shots are left out). Raises GalleryError (GalleryDamagedError
    for a damaged file) naming the file and what to do; the file is never written.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise GalleryError(f"--gallery {path} {what}", "give the face gallery file (enrol people with `faces enrol NAME IMG...`)")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(16)
    except OSError as exc:
        raise GalleryError(f"cannot read the face gallery {path}: {exc.strerror or exc}") from exc
    if magic != _SQLITE_MAGIC:
        raise GalleryDamagedError(f"the face gallery {path} is not an SQLite database (damaged, or another kind of file)",
                                  "open it with `faces list --gallery FILE` to restore it from its backup, or give another file")
    wal = path.with_name(path.name + "-wal")
    rows = None
    if not wal.exists():
        # No WAL: every row is in the file itself. Read it as immutable, which makes SQLite
        # leave no -wal/-shm files beside it, and check that no one wrote meanwhile.
        before = _stamp(path)
        rows = _read(path, embedder, dim, immutable=True)
        if wal.exists() or _stamp(path) != before:
            rows = None
    if rows is None:  # in use by another program (or just written): read through its WAL, with locks
        rows = _read(path, embedder, dim, immutable=not os.access(path.parent, os.W_OK))
    names, keys, labels, vectors, missing = rows
    # Of what was read, not of the vectors computed below (the same thumbnails could give
    # vectors that differ in the last bit on another machine: not another gallery).
    digest = hashlib.sha256(embedder.encode())
    for person, name in sorted(names.items()):
        digest.update(f"\0{person}\0{name}".encode())
    digest.update(np.array(keys + labels, np.int64).tobytes())
    for vector in vectors:
        digest.update(vector.tobytes())
    for shot, person, png in missing:
        digest.update(f"\0{shot}\0{person}\0".encode() + png)
    computed = 0
    if missing and embed is not None:
        chips = [decode_chip(png) for _, _, png in missing]
        new = np.asarray(embed(chips), dtype=np.float32).reshape(len(missing), dim)
        keys += [-shot for shot, _, _ in missing]
        labels += [person for _, person, _ in missing]
        vectors += list(new)
        computed = len(missing)
    matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    return GallerySnapshot(str(path), embedder, np.array(keys, np.int64), np.array(labels, np.int64), matrix, names, computed,
                           digest.hexdigest())


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def _read(path: Path, embedder: str, dim: int, immutable: bool) -> tuple:
    """(names, keys, labels, vectors, missing shots [(shot id, person id, thumbnail PNG)])."""
    try:
        # mode=ro never writes the database; immutable also takes no locks and needs no
        # WAL index (which SQLite could not make where the folder is read-only).
        query = "mode=ro&immutable=1" if immutable else "mode=ro"
        conn = sqlite3.connect(f"{path.as_uri()}?{query}", uri=True, timeout=5.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise GalleryDamagedError(f"the face gallery {path} cannot be opened ({exc})", "check the file") from exc
    try:
        return _rows(conn, path, embedder, dim)
    except sqlite3.DatabaseError as exc:
        raise GalleryDamagedError(f"the face gallery {path} is damaged ({exc})",
                                  "open it with `faces list --gallery FILE` to restore it from its backup") from exc
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, path: Path, embedder: str, dim: int) -> tuple:
    conn.execute("BEGIN")  # one consistent view of the file, whoever writes it meanwhile
    check = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    if check != ["ok"]:
        raise sqlite3.DatabaseError("integrity check failed: " + "; ".join(str(c) for c in check[:2]))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not _REQUIRED_TABLES <= tables:
        raise GalleryError(f"{path} is not a CNN Studio face gallery (tables: {', '.join(sorted(tables)[:5]) or 'none'})",
                           "give the gallery file of `faces` (see `faces list --json`)")
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if version is not None and int(version[0]) > _READABLE_SCHEMA:
        raise GalleryError(f"the face gallery {path} was written by a newer CNN Studio (schema {version[0]})", "update the app")
    names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT id, name FROM people")}
    rows = conn.execute(
        "SELECT e.id, s.person_id, e.dim, e.vector FROM embeddings e JOIN shots s ON s.id = e.shot_id "
        "WHERE e.embedder = ? ORDER BY e.id", (embedder,)).fetchall()
    wrong = sorted({int(r[2]) for r in rows if int(r[2]) != dim or len(r[3]) != 4 * dim})
    if wrong:
        raise GalleryDamagedError(f"the face gallery {path} holds {embedder} vectors of {wrong[0]} values; "
                                  f"{embedder} gives {dim}", "re-enrol the people with this embedder, or use another gallery")
    missing = conn.execute(
        "SELECT id, person_id, thumbnail FROM shots WHERE id NOT IN (SELECT shot_id FROM embeddings WHERE embedder = ?) "
        "ORDER BY id", (embedder,)).fetchall()
    return (names, [int(r[0]) for r in rows], [int(r[1]) for r in rows], [np.frombuffer(r[3], dtype="<f4") for r in rows],
            [(int(r[0]), int(r[1]), bytes(r[2])) for r in missing])
