"""An unusable settings.ini (a FIFO, a 2 GB file) is set aside; the window opens with
default settings and closes on SIGTERM. Runs the real GUI (offscreen) in a child."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.hardening.conftest import MAIN, TWO_GB_KIB, child_env

# Starts the GUI, waits for its "window shown" log line, sends SIGTERM, reports.
_GUI_LAUNCHER = r"""
import json, os, resource, selectors, signal, subprocess, sys, time
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
os.set_blocking(proc.stderr.fileno(), False)
deadline, err, shown = time.monotonic() + float(sys.argv[1]), b"", False
sel = selectors.DefaultSelector()
sel.register(proc.stderr, selectors.EVENT_READ)
while time.monotonic() < deadline and proc.poll() is None and not shown:
    for _ in sel.select(timeout=0.5):
        err += proc.stderr.read() or b""
    shown = b"window shown" in err
if shown:
    time.sleep(1.0)  # let the event loop run a moment with the window up
if proc.poll() is None:
    proc.send_signal(signal.SIGTERM)  # shown or not: the app must end on SIGTERM
try:
    proc.wait(timeout=30)
    rc = proc.returncode
except subprocess.TimeoutExpired:
    proc.kill()
    proc.wait()
    rc = "ignored SIGTERM"
os.set_blocking(proc.stderr.fileno(), True)
err += proc.stderr.read() or b""
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"shown": shown, "rc": rc, "stderr": err.decode("utf-8", "replace"), "peak_kib": peak}))
"""


def _run_gui(home, timeout: float = 120) -> dict:
    env = child_env(CNN_STUDIO_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    cmd = [sys.executable, "-c", _GUI_LAUNCHER, str(timeout), sys.executable, str(MAIN), "-v", "--source", "demo"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout + 90)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("kind", ["fifo", "huge"])
def test_an_unusable_settings_file_is_set_aside(tmp_path, kind):
    config = tmp_path / "home" / "config"
    config.mkdir(parents=True)
    ini = config / "settings.ini"
    if kind == "fifo":
        os.mkfifo(ini)
    else:
        with open(ini, "wb") as fh:
            fh.truncate(2 * 1024**3)  # sparse
    keep = tmp_path / "home" / "data" / "gallery.db"
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"the user's data")
    result = _run_gui(tmp_path / "home")
    assert result["shown"], result["stderr"][-3000:]
    assert result["rc"] != "ignored SIGTERM"
    assert result["peak_kib"] < TWO_GB_KIB, f"peak RSS {result['peak_kib'] // 1024} MB"
    warnings = [line for line in result["stderr"].splitlines() if line.startswith("warning: the settings file")]
    assert len(warnings) == 1, result["stderr"][-3000:]
    assert str(ini) in warnings[0] and ("FIFO" if kind == "fifo" else "2.0 GB") in warnings[0]
    aside = [p for p in config.iterdir() if p.name.startswith("settings.ini.bad-")]
    assert len(aside) == 1 and "default settings" in warnings[0] and aside[0].name in warnings[0]
    assert keep.read_bytes() == b"the user's data"


def test_set_aside_leaves_a_good_file_alone(tmp_path):
    from gui.common.settings import MAX_SETTINGS_BYTES, set_aside_unusable

    ini = tmp_path / "settings.ini"
    assert set_aside_unusable(ini) is None  # absent
    ini.write_text("[window]\nview=split\n")
    assert set_aside_unusable(ini) is None and ini.read_text().startswith("[window]")
    with open(ini, "ab") as fh:
        fh.truncate(MAX_SETTINGS_BYTES + 1)
    message = set_aside_unusable(ini)
    assert message and "moved to settings.ini.bad-" in message and not ini.exists()
