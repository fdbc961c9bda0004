"""The face gallery: people, their face shots and embeddings, in one SQLite file.

Layout (``engine.core.paths.data_dir()/faces/gallery.db`` by default):

    people(id, name UNIQUE (case-insensitive), created)
    shots(id, person_id -> people ON DELETE CASCADE, thumbnail PNG, created)
    embeddings(id, shot_id -> shots ON DELETE CASCADE, embedder, dim, vector float32, created)

A shot's thumbnail is the aligned face chip (see align.py), stored losslessly, so
switching to another embedder re-embeds from the thumbnails without the original photo.
Embeddings are tied to the embedder that made them.

Safety: WAL journal, foreign keys, every change in one transaction (an enrolment is
written completely or not at all, even if the process is killed), ``PRAGMA
quick_check`` at open, and a rotated backup (SQLite's online backup API) after each
successful change. A damaged file is set aside and the newest good backup restored;
without a backup the gallery opens read-only. It is never silently emptied.
Removing a person also rewrites the backups and zeroes freed pages, so nothing of
them is left on disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from engine.core import paths
from engine.features.faces.gallery_records import (
    GalleryDamagedError,
    GalleryError,
    GalleryFullError,
    GalleryLockedError,
    GalleryReadOnlyError,
    Person,
    PersonExistsError,
    PersonNotFoundError,
    Shot,
    check_name,
    check_vector,
    decode_chip,
    encode_chip,
    name_key,
)
from engine.features.faces.gallery_records import (
    is_full_error as _is_full_error,
)
from engine.features.faces.gallery_records import (
    is_lock_error as _is_lock_error,
)
from engine.features.faces.gallery_records import (
    is_read_only_error as _is_read_only_error,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shots(
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    thumbnail BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings(
    id INTEGER PRIMARY KEY,
    shot_id INTEGER NOT NULL REFERENCES shots(id) ON DELETE CASCADE,
    embedder TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created REAL NOT NULL,
    UNIQUE(shot_id, embedder)
);
CREATE INDEX IF NOT EXISTS shots_by_person ON shots(person_id);
CREATE INDEX IF NOT EXISTS embeddings_by_embedder ON embeddings(embedder);
"""


def default_path() -> Path:
    """``<data_dir>/faces/gallery.db``."""
    return paths.data_dir() / "faces" / "gallery.db"


_GALLERY_TABLES = {"meta", "people", "shots", "embeddings"}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _sidecars(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


class Gallery:
    """An open face gallery. Thread-safe (one connection behind a lock).

    path: the SQLite file (default: ``default_path()``). backups: how many rotated
    backups to keep in ``<folder>/backups``. timeout: seconds to wait for another
    program's lock before GalleryLockedError.

    After opening, ``notice`` is None or a sentence the UI must show (restored from a
    backup / opened read-only), and ``read_only`` says whether changes are refused.
    ``revision`` grows by one with every committed change made through this object.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, backups: int = 3, timeout: float = 5.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = "a read-only disk or folder" if _is_read_only_error(exc) else (exc.strerror or str(exc))
            raise GalleryError(f"cannot create the face gallery folder {self.path.parent}: {why}") from exc
        self.backup_dir = self.path.parent / "backups"
        self.keep_backups = max(int(backups), 1)
        self.timeout = timeout
        self.read_only = False
        self.read_only_reason = "damaged"  # or "read-only disk"
        self.notice: str | None = None
        self.revision = 0
        self._lock = threading.RLock()
        self._conn = self._open()
        if not self.read_only:
            from engine.core.safe_files import clean_stale_temporaries

            # A backup interrupted by kill -9 or a full disk: it may hold someone since removed.
            clean_stale_temporaries(self.backup_dir, ["gallery-*.db.tmp", "gallery-*.db.tmp-*"], older_than_s=60)

    # -- opening, integrity, recovery ------------------------------------------------
    def _connect(self, read_only: bool = False, immutable: bool = False) -> sqlite3.Connection:
        if read_only:
            # immutable: on a read-only disk SQLite cannot create the WAL index (-shm); the
            # file cannot change there anyway.
            query = "mode=ro&immutable=1" if immutable else "mode=ro"
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?{query}", uri=True, timeout=self.timeout,
                                   isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check integrity and create the schema; raises sqlite3.DatabaseError when damaged."""
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if [r[0] for r in rows] != ["ok"]:
            problems = [line for r in rows for line in str(r[0]).splitlines() if not line.startswith("***")]
            raise sqlite3.DatabaseError("integrity check failed: " + "; ".join(problems[:2]))
        conn.execute("PRAGMA journal_mode = WAL")
        # Zero freed pages so removed people leave nothing behind in the file.
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA synchronous = FULL")
        conn.executescript(_SCHEMA)
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None:
            conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(version[0]) > SCHEMA_VERSION:
            raise GalleryError(
                f"the face gallery {self.path} was written by a newer CNN Studio (schema {version[0]}); update the app"
            )

    def _writable(self) -> bool:
        folder_ok = os.access(self.path.parent, os.W_OK)
        return folder_ok and (not self.path.exists() or os.access(self.path, os.W_OK))

    def _refuse_foreign(self) -> None:
        """GalleryError, touching nothing, when the file is an SQLite database of another program."""
        try:
            with open(self.path, "rb") as fh:
                magic = fh.read(16)
        except OSError as exc:
            raise GalleryError(f"cannot read the face gallery {self.path}: {exc.strerror or exc}") from exc
        if magic != _SQLITE_MAGIC:
            return  # not SQLite at all: damage handling decides
        try:
            conn = self._connect(read_only=True, immutable=not os.access(self.path.parent, os.W_OK))
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return  # damaged: the recovery path handles it
        if tables and not ({"meta", "people"} <= tables and tables <= _GALLERY_TABLES | {"sqlite_sequence"}):
            raise GalleryError(
                f"{self.path} is an SQLite database of another program (tables: {', '.join(sorted(tables)[:5])}), "
                "not a CNN Studio face gallery; it was left untouched — choose another file"
            )

    def _open_read_only_disk(self) -> sqlite3.Connection:
        try:
            conn = self._connect(read_only=True, immutable=True)
            conn.execute("SELECT COUNT(*) FROM people").fetchone()
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"the face gallery {self.path} is on a read-only disk or folder and cannot be read "
                               f"({exc})") from exc
        self.read_only = True
        self.read_only_reason = "read-only disk"
        self.notice = (f"The face gallery {self.path} is on a read-only disk or folder: it was opened read-only, "
                       "so changes cannot be saved. Copy it to a writable folder to make changes.")
        log.warning(self.notice)
        return conn

    def _open(self) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        if existed:
            self._refuse_foreign()
            if not self._writable():
                return self._open_read_only_disk()
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            self._prepare(conn)
            return conn
        except sqlite3.OperationalError as exc:
            if conn is not None:
                conn.close()
            if _is_lock_error(exc):
                raise GalleryLockedError(
                    f"the face gallery {self.path} is locked by another program (another CNN Studio window "
                    "or command?); close it and try again"
                ) from exc
            if _is_full_error(exc):
                raise GalleryFullError(f"cannot open the face gallery {self.path}: the disk is full", "free some space") from exc
            if existed and _is_read_only_error(exc):
                return self._open_read_only_disk()
            if not existed:
                raise GalleryError(f"cannot create the face gallery at {self.path}: {exc}") from exc
            damage = exc
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if not existed:
                raise GalleryError(f"cannot create the face gallery at {self.path}: {exc}") from exc
            damage = exc
        log.error("face gallery %s is damaged: %s", self.path, damage)
        return self._recover(damage)

    def _recover(self, damage: Exception) -> sqlite3.Connection:
        backup = self._newest_good_backup()
        if backup is not None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            kept = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
            for src in _sidecars(self.path):
                if src.exists():
                    os.replace(src, src.with_name(src.name.replace(self.path.name, kept.name, 1)))
            shutil.copyfile(backup, self.path)
            conn = self._connect()
            self._prepare(conn)
            people = conn.execute("SELECT COUNT(*) FROM people").fetchone()[0]
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(backup.stat().st_mtime))
            self.notice = (
                f"The face gallery was damaged ({damage}); it was restored from the backup of {when} "
                f"({people} people). The damaged file was kept as {kept.name}."
            )
            log.warning(self.notice)
            return conn
        try:
            conn = self._connect(read_only=True)
            conn.execute("SELECT COUNT(*) FROM people").fetchone()
            conn.execute("SELECT COUNT(*) FROM shots NOT INDEXED").fetchone()
        except sqlite3.DatabaseError as exc:
            raise GalleryDamagedError(
                f"the face gallery {self.path} is damaged ({damage}) and there is no backup to restore; "
                "the file was left untouched — move it away to start a new gallery, or repair it with the sqlite3 tool"
            ) from exc
        self.read_only = True
        self.notice = (
            f"The face gallery is damaged ({damage}) and no backup exists: it was opened read-only. "
            "Export what can be read, then move the file away to start a new gallery."
        )
        log.warning(self.notice)
        return conn

    def backups(self) -> list[Path]:
        """Backup files, newest first."""
        if not self.backup_dir.is_dir():
            return []
        return sorted(self.backup_dir.glob("gallery-*.db"), key=lambda p: p.name, reverse=True)

    def _newest_good_backup(self) -> Path | None:
        for candidate in self.backups():
            try:
                conn = sqlite3.connect(f"file:{candidate}?mode=ro", uri=True)
                try:
                    ok = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()] == ["ok"]
                    ok = ok and conn.execute("SELECT COUNT(*) FROM people").fetchone() is not None
                finally:
                    conn.close()
            except sqlite3.DatabaseError:
                ok = False
            if ok:
                return candidate
            log.warning("backup %s is damaged too; trying an older one", candidate)
        return None

    def backup(self, replace_all: bool = False) -> Path | None:
        """Copy the database into a new rotated backup; returns its path.

        replace_all: delete every older backup (after removing a person, so that no copy
        of them survives).
        """
        if self.read_only:
            return None
        with self._lock:
            self.backup_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
            target = self.backup_dir / f"gallery-{stamp}.db"
            tmp = target.with_suffix(".db.tmp")
            try:
                dest = sqlite3.connect(str(tmp))
                try:
                    self._conn.backup(dest)
                finally:
                    dest.close()
                os.replace(tmp, target)
            finally:
                for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
                    leftover.unlink(missing_ok=True)
            keep = 1 if replace_all else self.keep_backups
            for old in self.backups()[keep:]:
                old.unlink(missing_ok=True)
            return target

    # -- transactions ------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self, wipe_traces: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; committed on success, rolled back on any error."""
        if self.read_only and self.read_only_reason != "damaged":
            raise GalleryReadOnlyError(
                f"the face gallery {self.path} is on a read-only disk or folder; no changes can be saved "
                "(copy it to a writable folder)"
            )
        if self.read_only:
            raise GalleryReadOnlyError(
                "the face gallery is open read-only because it is damaged; no changes can be saved "
                "(export it, then move the file away to start a new one)"
            )
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_lock_error(exc):
                    raise GalleryLockedError(
                        f"the face gallery {self.path} is locked by another program; close it and try again"
                    ) from exc
                raise self._storage_error(exc) from exc
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                # SQLite may already have rolled back (a full disk does): that is not the news.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, (sqlite3.Error, OSError)):
                    raise self._storage_error(exc) from exc
                raise
            self.revision += 1
            if wipe_traces:
                # Move every page out of the WAL so freed (zeroed) pages replace the old ones.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                # A backup being written by another process or left by a killed one holds
                # the old rows too; the new backup below replaces them all.
                if self.backup_dir.is_dir():
                    for partial in self.backup_dir.glob("gallery-*.db.tmp*"):
                        partial.unlink(missing_ok=True)
            try:
                self.backup(replace_all=wipe_traces)
            except (sqlite3.Error, OSError) as exc:  # the change is saved; only the backup failed
                log.error("could not back up the face gallery: %s", exc)

    def _storage_error(self, exc: BaseException) -> BaseException:
        """A user-facing GalleryError for a failed change, or ``exc`` itself when unexpected."""
        if _is_full_error(exc):
            return GalleryFullError(f"the disk is full: the change to the face gallery {self.path} was not saved "
                                    "(nothing was lost)", "free some space and try again")
        if _is_read_only_error(exc):
            return GalleryReadOnlyError(f"the face gallery {self.path} is on a read-only disk or folder; "
                                        "no changes can be saved")
        if _is_lock_error(exc):
            return GalleryLockedError(f"the face gallery {self.path} is locked by another program; close it and try again")
        return exc

    def stored_dims(self, embedder: str) -> set[int]:
        """The vector lengths stored for ``embedder`` (one value in a healthy gallery)."""
        return {int(r[0]) for r in self._read("SELECT DISTINCT dim FROM embeddings WHERE embedder = ?", (embedder,))}

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if _is_lock_error(exc):
                    raise GalleryLockedError(f"the face gallery {self.path} is locked by another program") from exc
                raise

    # -- queries -------------------------------------------------------------------------
    @property
    def _shots(self) -> str:
        # A damaged index must not hide intact rows: read-only (damaged) galleries scan the table.
        return "shots AS s NOT INDEXED" if self.read_only else "shots AS s"

    def people(self) -> list[Person]:
        """Everyone, sorted by name (case-insensitive)."""
        rows = self._read(
            f"SELECT p.id, p.name, p.created, COUNT(s.id) FROM people p LEFT JOIN {self._shots} ON s.person_id = p.id "
            "GROUP BY p.id ORDER BY p.name COLLATE NOCASE"
        )
        return [Person(int(r[0]), r[1], float(r[2]), int(r[3])) for r in rows]

    def find(self, name: str) -> Person | None:
        """The person called ``name``, compared with ``name_key`` (Unicode case-insensitive)."""
        key = name_key(check_name(name))
        person_id = next((pid for pid, other in self._read("SELECT id, name FROM people") if name_key(other) == key), None)
        if person_id is None:
            return None
        rows = self._read(
            f"SELECT p.id, p.name, p.created, COUNT(s.id) FROM people p LEFT JOIN {self._shots} ON s.person_id = p.id "
            "WHERE p.id = ? GROUP BY p.id",
            (person_id,),
        )
        return Person(int(rows[0][0]), rows[0][1], float(rows[0][2]), int(rows[0][3])) if rows else None

    def get(self, name: str) -> Person:
        person = self.find(name)
        if person is None:
            known = ", ".join(p.name for p in self.people()[:10]) or "the gallery is empty"
            raise PersonNotFoundError(f"no person called '{name}' in the gallery ({known})")
        return person

    def shots(self, name: str) -> list[Shot]:
        person = self.get(name)
        rows = self._read(
            f"SELECT id, person_id, created, thumbnail FROM {self._shots} WHERE person_id = ? ORDER BY id", (person.id,)
        )
        return [Shot(int(r[0]), int(r[1]), float(r[2]), decode_chip(r[3])) for r in rows]

    def thumbnail(self, name: str) -> np.ndarray | None:
        """The first shot's chip of a person (for lists), or None when they have no shots."""
        person = self.get(name)
        rows = self._read(f"SELECT thumbnail FROM {self._shots} WHERE person_id = ? ORDER BY id LIMIT 1", (person.id,))
        return decode_chip(rows[0][0]) if rows else None

    def shot_count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM shots")[0][0])

    def embedders(self) -> list[str]:
        """Embedder names that have vectors stored."""
        return [r[0] for r in self._read("SELECT DISTINCT embedder FROM embeddings ORDER BY embedder")]

    def vectors(self, embedder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All vectors of ``embedder``: (embedding ids (M,), person ids (M,), vectors (M, D) float32)."""
        rows = self._read(
            "SELECT e.id, s.person_id, e.dim, e.vector FROM embeddings e JOIN shots s ON s.id = e.shot_id "
            "WHERE e.embedder = ? ORDER BY e.id",
            (embedder,),
        )
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        dim = int(rows[0][2])
        ids = np.array([r[0] for r in rows], np.int64)
        people = np.array([r[1] for r in rows], np.int64)
        mat = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(len(rows), dim).copy()
        return ids, people, mat

    def missing_embeddings(self, embedder: str) -> list[int]:
        """Ids of shots that have no vector from ``embedder`` yet."""
        rows = self._read(
            "SELECT id FROM shots WHERE id NOT IN (SELECT shot_id FROM embeddings WHERE embedder = ?) ORDER BY id",
            (embedder,),
        )
        return [int(r[0]) for r in rows]

    def change_token(self) -> tuple[int, int]:
        """Changes when anyone (this object or another connection/process) commits a change."""
        with self._lock:
            data_version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        return self.revision, data_version

    def names_by_id(self) -> dict[int, str]:
        return {int(r[0]): r[1] for r in self._read("SELECT id, name FROM people")}

    # -- changes -------------------------------------------------------------------------
    def enrol(self, name: str, shots: Iterable[tuple[np.ndarray, np.ndarray]], embedder: str,
              add_to_existing: bool = False) -> Person:
        """Add a person with shots, all in one transaction.

        shots: (chip uint8 BGR (S, S, 3), vector (D,) float32) pairs; consumed inside the
        transaction, so if anything fails (or the process dies) nothing of the person is
        kept. A name that exists raises PersonExistsError unless ``add_to_existing``.
        """
        name = check_name(name)
        key = name_key(name)
        with self._write() as conn:
            row = next(((pid,) for pid, other in conn.execute("SELECT id, name FROM people") if name_key(other) == key), None)
            if row is not None and not add_to_existing:
                raise PersonExistsError(name)
            if row is None:
                person_id = conn.execute("INSERT INTO people(name, created) VALUES (?, ?)", (name, time.time())).lastrowid
            else:
                person_id = int(row[0])
            count = 0
            for chip, vector in shots:
                self._insert_shot(conn, person_id, encode_chip(chip), {embedder: vector}, time.time())
                count += 1
            if count == 0:
                raise ValueError(f"no face shots were given for '{name}'")
        return self.get(name)

    @staticmethod
    def _insert_shot(conn: sqlite3.Connection, person_id: int, png: bytes, vectors: dict[str, np.ndarray],
                     created: float) -> int:
        shot_id = conn.execute(
            "INSERT INTO shots(person_id, thumbnail, created) VALUES (?, ?, ?)", (person_id, png, created)
        ).lastrowid
        for embedder, vector in vectors.items():
            stored = conn.execute("SELECT dim FROM embeddings WHERE embedder = ? LIMIT 1", (embedder,)).fetchone()
            vec = check_vector(vector, embedder, int(stored[0]) if stored else None)
            conn.execute(
                "INSERT INTO embeddings(shot_id, embedder, dim, vector, created) VALUES (?, ?, ?, ?, ?)",
                (shot_id, embedder, int(vec.size), vec.tobytes(), created),
            )
        return int(shot_id)

    def add_embeddings(self, embedder: str, vectors: dict[int, np.ndarray]) -> int:
        """Store vectors of ``embedder`` for existing shots {shot id: (D,) float32}."""
        now = time.time()
        with self._write() as conn:
            for shot_id, vector in vectors.items():
                stored = conn.execute("SELECT dim FROM embeddings WHERE embedder = ? LIMIT 1", (embedder,)).fetchone()
                vec = check_vector(vector, embedder, int(stored[0]) if stored else None)
                conn.execute(
                    "INSERT OR REPLACE INTO embeddings(shot_id, embedder, dim, vector, created) VALUES (?, ?, ?, ?, ?)",
                    (int(shot_id), embedder, int(vec.size), vec.tobytes(), now),
                )
        return len(vectors)

    def chips_of_shots(self, shot_ids: list[int]) -> list[np.ndarray]:
        out = []
        for shot_id in shot_ids:
            rows = self._read("SELECT thumbnail FROM shots WHERE id = ?", (int(shot_id),))
            if rows:
                out.append(decode_chip(rows[0][0]))
        return out

    def rename(self, old: str, new: str) -> Person:
        """Rename a person; PersonExistsError if ``new`` is someone else already."""
        new = check_name(new)
        person = self.get(old)
        other = self.find(new)
        if other is not None and other.id != person.id:
            raise PersonExistsError(new)
        with self._write(wipe_traces=True) as conn:
            conn.execute("UPDATE people SET name = ? WHERE id = ?", (new, person.id))
        return self.get(new)

    def merge(self, source: str, target: str) -> Person:
        """Move every shot of ``source`` to ``target`` and delete ``source``."""
        src, dst = self.get(source), self.get(target)
        if src.id == dst.id:
            raise ValueError(f"cannot merge '{source}' into itself")
        with self._write(wipe_traces=True) as conn:
            conn.execute("UPDATE shots SET person_id = ? WHERE person_id = ?", (dst.id, src.id))
            conn.execute("DELETE FROM people WHERE id = ?", (src.id,))
        return self.get(dst.name)

    def remove(self, name: str) -> Person:
        """Delete a person with every shot and embedding; their data is wiped from disk and backups."""
        person = self.get(name)
        with self._write(wipe_traces=True) as conn:
            conn.execute("DELETE FROM people WHERE id = ?", (person.id,))
        return person

    def remove_shot(self, shot_id: int) -> None:
        with self._write(wipe_traces=True) as conn:
            conn.execute("DELETE FROM shots WHERE id = ?", (int(shot_id),))

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
