"""The gallery on a full disk, a read-only disk, after kill -9 during a backup, and removal
leaving no trace anywhere."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from engine.features.faces.gallery import Gallery, GalleryError, GalleryReadOnlyError
from engine.features.faces.lbp import DIM as LBP_DIM
from tests.hardening.conftest import ROOT, child_env
from tests.hardening.gallery_archives import fill


def _can_mount() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def tmpfs(path, size="4m"):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root to mount a small filesystem")


def _chip(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (120, 120, 3), dtype=np.uint8)


def test_a_full_disk_is_called_a_full_disk(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Hana",))
        pages = g._conn.execute("PRAGMA page_count").fetchone()[0]
        g._conn.execute(f"PRAGMA max_page_count = {pages + 3}")  # SQLite's own "disk full" (SQLITE_FULL)
        shots = [(_chip(i), np.ones(LBP_DIM, np.float32)) for i in range(12)]
        with pytest.raises(GalleryError) as info:
            g.enrol("Viktor", shots, "lbp")
        message = str(info.value)
        assert "disk is full" in message and "rollback" not in message.lower()
        assert [p.name for p in g.people()] == ["Hana"]


@needs_mount
def test_a_read_only_disk_opens_read_only_and_says_so(tmp_path):
    mount = tmp_path / "stick"
    with tmpfs(mount):
        with Gallery(mount / "faces" / "gallery.db") as g:
            fill(g, names=("Kofi", "Lin"))
        before = {p: p.read_bytes() for p in (mount / "faces").rglob("*") if p.is_file()}
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with Gallery(mount / "faces" / "gallery.db") as g:
            assert g.read_only
            assert "read-only" in g.notice and "damaged" not in g.notice and "move" not in g.notice
            assert [p.name for p in g.people()] == ["Kofi", "Lin"]
            with pytest.raises(GalleryReadOnlyError, match="read-only disk"):
                g.remove("Lin")
        after = {p: p.read_bytes() for p in (mount / "faces").rglob("*") if p.is_file()}
        assert after == before


@needs_mount
def test_a_full_disk_during_export_leaves_nothing(tmp_path):
    from engine.features.faces.gallery_io import export_zip

    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Mira", "Noor", "Otto"))
        g.enrol("Pavel", [(_chip(i), np.ones(LBP_DIM, np.float32)) for i in range(30)], "lbp")
        mount = tmp_path / "small"
        with tmpfs(mount, size="64k"):
            (mount / "old.zip").write_bytes(b"an older export")
            with pytest.raises(GalleryError, match="disk is full"):
                export_zip(g, mount / "old.zip")
            assert sorted(p.name for p in mount.iterdir()) == ["old.zip"]
            assert (mount / "old.zip").read_bytes() == b"an older export"


def test_a_failed_export_in_a_child_with_a_file_size_limit(tmp_path):
    """Same as above without root: RLIMIT_FSIZE makes the write fail part-way (EFBIG)."""
    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Mira", "Noor"))
        g.enrol("Pavel", [(_chip(i), np.ones(LBP_DIM, np.float32)) for i in range(30)], "lbp")
    out = tmp_path / "out"
    out.mkdir()
    (out / "export.zip").write_bytes(b"an older export")
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "from engine.features.faces.gallery import Gallery, GalleryError\n"
        "from engine.features.faces.gallery_io import export_zip\n"
        "g = Gallery(sys.argv[1])\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))\n"
        "try:\n    export_zip(g, sys.argv[2])\nexcept GalleryError as exc:\n    print(exc); sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "g.db"), str(out / "export.zip")],
                          capture_output=True, text=True, env=child_env(), cwd=ROOT)
    assert done.returncode == 3, done.stderr
    assert "nothing was written" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["export.zip"]
    assert (out / "export.zip").read_bytes() == b"an older export"


def _holds(path, name: str) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM people WHERE name = ?", (name,)).fetchone()[0] > 0
    finally:
        conn.close()


def test_a_backup_left_by_kill_9_is_removed_on_open(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Quinn", "Rosa"))
        backup = g.backups()[0]
    stale = backup.with_name("gallery-20200101-000000-000000001.db.tmp")
    shutil.copyfile(backup, stale)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert _holds(stale, "Rosa")
    with Gallery(tmp_path / "g.db") as g:
        assert not stale.exists()
        assert len(g.people()) == 2


def test_removal_includes_backups_in_progress(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Sami", "Tove"))
        in_progress = g.backup_dir / "gallery-29990101-000000-000000002.db.tmp"
        shutil.copyfile(g.backups()[0], in_progress)  # another process is writing a backup
        g.remove("Tove")
        assert not in_progress.exists()
        leftovers = [p for p in g.backup_dir.iterdir()]
        assert leftovers and all(not _holds(p, "Tove") for p in leftovers)
        assert all(not p.name.endswith(".tmp") for p in leftovers)
    raw = (tmp_path / "g.db").read_bytes()
    assert "Tove".encode() not in raw


def test_exporting_over_the_gallery_itself_is_refused(tmp_path):
    from engine.features.faces.gallery_io import export_zip

    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Uma",))
        before = (tmp_path / "g.db").read_bytes()
        with pytest.raises(GalleryError, match="is the input"):
            export_zip(g, tmp_path / "g.db")
        assert [p.name for p in g.people()] == ["Uma"]
    assert (tmp_path / "g.db").read_bytes()[:16] == before[:16] == b"SQLite format 3\x00"
