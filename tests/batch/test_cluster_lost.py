"""A cluster that goes away mid-run (its head killed) is reported in one line, the finished
inputs are kept, and the same command on a cluster started again finishes the rest."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.batch.store import read_table
from tests.batch.rows import SIZE, write_video

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    # Token authentication kept drivers out of a `ray start` node here (InvalidAuthToken);
    # the head listens on this machine only, for the test.
    return {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}


# Frames per video: enough that the 8 inputs left when the head is killed take seconds, so
# a quiet machine cannot finish them first (8 frames each did, in 1.6 s).
FRAMES = 40


def _head(port: int, log: Path) -> subprocess.Popen:
    ray = str(Path(sys.executable).with_name("ray"))
    return subprocess.Popen([ray, "start", "--head", "--block", "--port", str(port), "--num-cpus", "1",
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--disable-usage-stats"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


def _end(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of the session this test started
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no Ray head on port {port}")


def _batch(inputs: Path, out: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "batch", "detect", str(inputs), "--out", str(out),
                             "--model", "yolov4-tiny", "--size", SIZE, "--address", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)


@pytest.mark.slow  # a Ray head started twice and a driver waiting for it: ~2 min on 2 loaded cores
def test_a_lost_cluster_is_reported_and_the_run_resumes_on_a_new_one(home, tmp_path):
    inputs = tmp_path / "videos"
    inputs.mkdir()
    for i in range(10):
        write_video(inputs / f"v{i:02d}.avi", FRAMES, seed=300 + 10 * i)
    out, port = tmp_path / "out", _free_port()
    head = _head(port, tmp_path / "head.log")
    try:
        _listening(port, 120)
        run = _batch(inputs, out, port)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and run.poll() is None:
                if (out / "parts").is_dir() and len([p for p in (out / "parts").iterdir() if not p.name.startswith(".")]) >= 2:
                    break
                time.sleep(0.05)
            assert run.poll() is None, run.stderr.read()
            _end(head)
            _, stderr = run.communicate(timeout=120)
        finally:
            _end(run)
    finally:
        _end(head)
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert run.returncode == 2 and len(lines) == 1, stderr[-3000:]
    assert f"the Ray cluster at 127.0.0.1:{port} went away after" in lines[0]
    assert "the finished inputs are kept" in lines[0] and "rerun the same command" in lines[0]
    kept = read_table(out, "frames").num_rows
    assert 2 * FRAMES <= kept < 10 * FRAMES

    head = _head(port, tmp_path / "head2.log")
    try:
        _listening(port, 120)
        run = _batch(inputs, out, port)
        try:
            stdout, stderr = run.communicate(timeout=400)
        finally:
            _end(run)
    finally:
        _end(head)
    assert run.returncode == 0, stderr[-3000:]
    frames = read_table(out, "frames")
    assert frames.num_rows == 10 * FRAMES
    assert len(set(zip(frames.column("source").to_pylist(), frames.column("frame").to_pylist()))) == 10 * FRAMES
