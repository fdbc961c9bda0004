"""Helpers of the hardening tests: hostile inputs made here, run in a child process
whose peak memory is measured.

``run_cli(*args)`` runs ``main.py`` through a small launcher process that waits for it
and reports ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of that one child, so the
peak RSS of each hostile run is measured alone (the pytest process has other children).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"
TWO_GB_KIB = 2 * 1024 * 1024  # ru_maxrss is in KiB on Linux

_LAUNCHER = r"""
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "peak_kib": peak}))
"""


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    peak_kib: int

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def assert_one_error(self, *fragments: str) -> str:
        """Exit code 2, exactly one `error:` line containing every fragment, no traceback."""
        assert "Traceback" not in self.stderr, self.stderr
        assert self.rc == 2, (self.rc, self.stderr)
        assert len(self.error_lines) == 1, self.stderr
        line = self.error_lines[0]
        for fragment in fragments:
            assert fragment in line, (fragment, line)
        return line


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("CNN_STUDIO_DEVICE", "cpu")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_cli(*args: str | os.PathLike[str], env: dict[str, str] | None = None, timeout: float = 240) -> Run:
    """Run ``python main.py ARGS`` in a child; returns its exit code, output and peak RSS."""
    cmd = [sys.executable, "-c", _LAUNCHER, str(timeout), sys.executable, str(MAIN), *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env or child_env(), timeout=timeout + 30)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    return Run(data["rc"], data["stdout"], data["stderr"], data["peak_kib"])


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header (IHDR + one small IDAT + IEND) that claims width x height."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


TINY_CFG = """[net]
width=64
height=64
channels={channels}

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters={head}
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=10,14, 23,27
classes={classes}
num=2
"""


def tiny_cfg_text(classes: int = 2, channels: int = 3) -> str:
    return TINY_CFG.format(classes=classes, channels=channels, head=2 * (5 + classes))


@pytest.fixture()
def tiny_detector_files(tmp_path):
    """(cfg, weights, names) of a small 2-class YOLO, weights random in the real format."""
    from engine.features.detect.backends.darknet.random_weights import write_random_weights

    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(tiny_cfg_text())
    weights = tmp_path / "tiny.weights"
    write_random_weights(cfg, weights, seed=1)
    names = tmp_path / "tiny.names"
    names.write_text("kettle\nlamp\n")
    return cfg, weights, names


@dataclass
class InProcess:
    rc: int
    stderr: str

    def assert_one_error(self, *fragments: str) -> str:
        return Run(self.rc, "", self.stderr, 0).assert_one_error(*fragments)


@pytest.fixture()
def cli(capsys):
    """``cli(*args)``: run main.main(args) in this process (cases that cannot cost memory)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cnn_studio_main", MAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(*args) -> InProcess:
        capsys.readouterr()
        rc = module.main([str(a) for a in args])
        return InProcess(rc, capsys.readouterr().err)

    return run


_BATCH = r"""
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[1])
import main
results = []
for args in json.loads(sys.argv[2]):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main.main(args)
        except SystemExit as stop:
            rc = stop.code
    results.append({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def run_cli_many(cases: list[list], env: dict[str, str] | None = None, timeout: float = 300) -> tuple[list[Run], int]:
    """Run several ``main.py`` command lines one after another in ONE child process (torch is
    imported once); returns each run and the child's peak RSS in KiB over all of them."""
    batch = json.dumps([[str(a) for a in case] for case in cases])
    cmd = [sys.executable, "-c", _LAUNCHER, str(timeout), sys.executable, "-c", _BATCH, str(ROOT), batch]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env or child_env(), timeout=timeout + 30)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["rc"] == 0, data["stderr"]
    runs = [Run(r["rc"], r["stdout"], r["stderr"], data["peak_kib"]) for r in json.loads(data["stdout"])]
    return runs, data["peak_kib"]
