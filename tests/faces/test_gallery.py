"""The SQLite gallery: changes, traces after removal, backups, damage, locks, a crash mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_records import (
    GalleryDamagedError,
    GalleryLockedError,
    GalleryReadOnlyError,
    PersonExistsError,
    PersonNotFoundError,
)

ROOT = Path(__file__).resolve().parents[2]


def _chip(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (160, 160, 3), dtype=np.uint8)


def _vec(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _shots(*seeds: int):
    return [(_chip(s), _vec(s)) for s in seeds]


def test_enrol_list_rename_merge_remove(gallery):
    gallery.enrol("Ann", _shots(1, 2), "test")
    gallery.enrol("Bob", _shots(3), "test")
    assert [(p.name, p.shots) for p in gallery.people()] == [("Ann", 2), ("Bob", 1)]
    shots = gallery.shots("ann")
    assert np.array_equal(shots[0].chip, _chip(1)) and np.array_equal(shots[1].chip, _chip(2))
    ids, people, vectors = gallery.vectors("test")
    assert vectors.shape == (3, 8) and np.array_equal(vectors[0], _vec(1))
    assert gallery.vectors("other")[2].shape[0] == 0

    with pytest.raises(PersonExistsError):
        gallery.rename("Ann", "bob")
    gallery.rename("Ann", "Annie")
    gallery.merge("Bob", "Annie")
    assert [(p.name, p.shots) for p in gallery.people()] == [("Annie", 3)]
    gallery.remove("Annie")
    assert gallery.people() == [] and gallery.shot_count() == 0
    assert gallery.vectors("test")[0].size == 0
    with pytest.raises(PersonNotFoundError, match="no person called 'Ann'"):
        gallery.remove("Ann")


def test_bad_names_are_refused(gallery):
    with pytest.raises(ValueError, match="empty"):
        gallery.enrol("   ", _shots(1), "test")
    with pytest.raises(ValueError, match="at most"):
        gallery.enrol("x" * 200, _shots(1), "test")


def test_removing_a_person_leaves_no_trace_on_disk(gallery):
    secret = "Zyxwvut Qwertyson"
    gallery.enrol(secret, _shots(11, 12), "test")
    gallery.enrol("Keep", _shots(13), "test")
    png_piece = gallery._read("SELECT thumbnail FROM shots ORDER BY id LIMIT 1")[0][0][200:264]
    gallery.remove(secret)
    folder = gallery.path.parent
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files) and gallery.backups()
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data, path
        assert png_piece not in data, path
    assert [p.name for p in gallery.people()] == ["Keep"]


def test_backups_are_rotated_and_a_damaged_file_is_restored(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path, backups=2) as g:
        for i in range(4):
            g.enrol(f"P{i}", _shots(i), "test")
        assert len(g.backups()) == 2
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # scribble over the header and the first pages
        fh.write(os.urandom(min(size, 8192)))
    with Gallery(path) as g:
        assert not g.read_only
        assert g.notice and "restored from the backup" in g.notice
        assert [p.name for p in g.people()] == ["P0", "P1", "P2", "P3"]
        g.enrol("P4", _shots(9), "test")  # and it works normally again
    assert list(tmp_path.glob("g.db.damaged-*")), "the damaged file is kept for the user"


def test_damaged_without_backup_opens_read_only_and_keeps_the_data(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.enrol("Ann", _shots(1), "test")
        g.enrol("Bob", _shots(2), "test")
    for b in (tmp_path / "backups").glob("*.db"):
        b.unlink()
    # Damage an index page only: the tables stay readable but quick_check fails.
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'shots_by_person'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\xff" * 64)
    before = path.read_bytes()
    with Gallery(path) as g:
        assert g.read_only and "read-only" in g.notice
        assert [p.name for p in g.people()] == ["Ann", "Bob"]
        with pytest.raises(GalleryReadOnlyError, match="read-only"):
            g.enrol("Cy", _shots(3), "test")
    assert path.read_bytes() == before


def test_unreadable_file_without_backup_is_an_error_and_left_alone(tmp_path):
    path = tmp_path / "g.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(GalleryDamagedError, match="no backup"):
        Gallery(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_a_locked_gallery_gives_a_clear_message(tmp_path):
    path = tmp_path / "g.db"
    Gallery(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        # WAL lets readers in while another program writes; the write is what must wait.
        with Gallery(path, timeout=0.2) as g:
            with pytest.raises(GalleryLockedError, match="locked by another program"):
                g.enrol("Ann", _shots(1), "test")
            assert g.people() == []
    finally:
        other.execute("ROLLBACK")
        other.close()


_CRASHING_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from engine.features.faces.gallery import Gallery

    g = Gallery(sys.argv[1])
    # A tiny page cache makes SQLite spill uncommitted pages into the WAL mid-transaction:
    # the harder case, where half an enrolment really is in the files when the process dies.
    g._conn.execute("PRAGMA cache_size = 4")

    def shots():
        for i in range(5):
            rng = np.random.default_rng(i)
            yield rng.integers(0, 256, (160, 160, 3), dtype=np.uint8), rng.normal(size=8).astype(np.float32)
            if i == 2:  # half of the enrolment is written inside the open transaction
                open(sys.argv[2], "w").write("ready")
                time.sleep(60)

    g.enrol("Half Written", shots(), "test")
    """
)


def test_a_process_killed_mid_enrolment_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.enrol("Before", _shots(1), "test")
    marker = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(path), str(marker)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer died before reaching the middle of its transaction"
            assert time.monotonic() < deadline, "the writer never reached the middle of its transaction"
            time.sleep(0.05)
        # The uncommitted shots really are on disk (in the WAL) when the process dies...
        assert Path(str(path) + "-wal").stat().st_size > 3 * 160 * 160
        # ... and the writer holds the write lock of an open transaction.
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")
        probe.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Gallery(path) as g:
        assert g.notice is None
        assert [(p.name, p.shots) for p in g.people()] == [("Before", 1)]
        assert g.shot_count() == 1 and len(g.vectors("test")[0]) == 1
        g.enrol("After", _shots(2), "test")
        assert [p.name for p in g.people()] == ["After", "Before"]
