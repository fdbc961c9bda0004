"""Interrupting a command leaves the previous output intact and nothing partial behind."""

from __future__ import annotations

import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from engine.core.safe_files import atomic_path, atomic_write_bytes
from tests.hardening.conftest import MAIN, child_env


def _video(path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 64))
    rng = np.random.default_rng(8)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    writer.release()


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_detect_keeps_the_old_output(tmp_path, tiny_detector_files, sig, code):
    cfg, weights, names = tiny_detector_files
    clip = tmp_path / "clip.avi"
    _video(clip, 3000)
    out = tmp_path / "annotated.avi"
    out.write_bytes(b"the previous good output")
    proc = subprocess.Popen(
        [sys.executable, str(MAIN), "detect", str(clip), "--cfg", str(cfg), "--weights", str(weights),
         "--names", str(names), "--json", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        # A test run started in the background inherits SIGINT ignored, and Python keeps an
        # ignored SIGINT ignored (the Unix convention for background jobs): the command would
        # rightly not stop. The test is about what Ctrl+C does, so the child starts with it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stdout.readline()  # frames are being written now
        assert first.startswith("{"), proc.stderr.read()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert out.read_bytes() == b"the previous good output"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["annotated.avi", "clip.avi", "tiny.cfg", "tiny.names", "tiny.weights"])


def test_an_interrupted_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "picture.png"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of the new")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["picture.png"]
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["picture.png"]


def test_a_failed_write_reports_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="nothing was written"):
        with atomic_path(target):
            pass  # a writer that silently wrote nothing (cv2.imwrite returning False)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


def test_a_signal_inside_signals_deferred_is_raised_when_the_block_ends():
    """Ctrl+C during the block is not lost and does not split it: it comes right after."""
    import os

    from engine.core.safe_files import signals_deferred

    steps = []
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("created")  # still runs: the signal waits
            steps.append("remembered")
        steps.append("after")  # never: the signal is raised as the block ends
    assert steps == ["created", "remembered"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back


def test_atomic_path_leaves_nothing_when_interrupted_while_creating_its_temporary(tmp_path, monkeypatch):
    """A signal between creating the temporary and storing its name used to leak the file."""
    import os

    from engine.core import safe_files

    real = safe_files.temp_name_for

    def interrupted_right_after_creating(target):
        path = real(target)
        os.kill(os.getpid(), signal.SIGINT)  # lands before the caller has the name
        return path

    monkeypatch.setattr(safe_files, "temp_name_for", interrupted_right_after_creating)
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with safe_files.atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"] and target.read_bytes() == b"old"
