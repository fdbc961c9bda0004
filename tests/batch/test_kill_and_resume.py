"""Nothing lost, nothing doubled: `batch detect` killed with SIGKILL in the middle of a run and
started again with the same --out ends with exactly the rows of the sequential `detect --json`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.batch.store import read_table
from tests.batch.rows import SIZE, assert_same_rows, batch_rows, sequential_rows, write_video

ROOT = Path(__file__).resolve().parents[2]


def _start(inputs: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "main.py"), "batch", "detect", str(inputs), "--out", str(out),
               "--model", "yolov4-tiny", "--size", SIZE, "--workers", "1"]
    # A session of its own: whatever the run started can be found (and ended) by its group id.
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _end_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.slow  # two Ray starts: ~1.5 min on 2 loaded cores
def test_a_run_killed_mid_way_and_restarted_keeps_every_input_exactly_once(capsys, home, tmp_path):
    inputs = tmp_path / "videos"
    inputs.mkdir()
    videos = [write_video(inputs / f"v{i:02d}.avi", 8, seed=100 + 10 * i) for i in range(10)]
    out = tmp_path / "out"
    proc = _start(inputs, out)
    try:
        parts = out / "parts"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            done = [p for p in parts.glob("*") if not p.name.startswith(".")] if parts.is_dir() else []
            if len(done) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)  # the driver only, as `kill -9 PID` does
        proc.wait(timeout=60)
    finally:
        _end_group(proc)
    killed_with = {p.name for p in (out / "parts").iterdir() if not p.name.startswith(".")}
    assert 2 <= len(killed_with) < len(videos)

    proc = _start(inputs, out)
    try:
        stdout, stderr = proc.communicate(timeout=400)
    finally:
        _end_group(proc)
    assert proc.returncode == 0, stderr
    assert "done by an earlier run" in stdout and f"{len(videos) - len(killed_with)} input(s) done" in stdout, stdout

    detections, frames = read_table(out, "detections"), read_table(out, "frames")
    assert frames.num_rows == 8 * len(videos)  # batch_rows also checks that no (source, frame) repeats
    expected = {}
    for video in videos:
        expected.update(sequential_rows(capsys, video))
    assert_same_rows(batch_rows(detections, frames), expected)
    assert not list((out / "parts").glob(".tmp-*"))
