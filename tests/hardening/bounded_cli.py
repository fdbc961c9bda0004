"""``main.py`` in a child process with a cap on its address space, its peak RSS measured.

The cap makes a regression fail fast (an allocation error) instead of eating the shared
machine; the tests still assert the measured peak RSS (``getrusage(RUSAGE_CHILDREN)``
of that one child) stays under 2 GB. The CUDA build of torch maps about 4 GB of address
space in a normal run (``teach predict`` measured at 3.8 GB VmPeak), so the cap is 8 GB.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.hardening.conftest import _BATCH, MAIN, ROOT, Run, child_env

ADDRESS_SPACE_LIMIT = 8 * 1024**3

_LAUNCHER = r"""
import json, resource, subprocess, sys
limit = int(sys.argv[2])
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    proc = subprocess.run(sys.argv[3:], capture_output=True, text=True, timeout=float(sys.argv[1]), preexec_fn=cap)
    rc, out, err = proc.returncode, proc.stdout, proc.stderr
except subprocess.TimeoutExpired as stop:
    rc, out, err = "timeout", str(stop.stdout or ""), str(stop.stderr or "")
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "stdout": out, "stderr": err, "peak_kib": peak}))
"""


def _launch(command: list[str], env: dict[str, str] | None, timeout: float) -> dict:
    cmd = [sys.executable, "-c", _LAUNCHER, str(timeout), str(ADDRESS_SPACE_LIMIT), *command]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env or child_env(), timeout=timeout + 60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["rc"] != "timeout", f"the command hung for {timeout} s: {command[-6:]}\n{data['stderr'][-2000:]}"
    return data


def run_bounded(*args, env: dict[str, str] | None = None, timeout: float = 240) -> Run:
    """``python main.py ARGS`` (a hang fails the test after ``timeout`` seconds)."""
    data = _launch([sys.executable, str(MAIN), *map(str, args)], env, timeout)
    return Run(data["rc"], data["stdout"], data["stderr"], data["peak_kib"])


def run_bounded_many(cases: list[list], env: dict[str, str] | None = None, timeout: float = 300) -> tuple[list[Run], int]:
    """Several command lines one after another in ONE capped child (torch imported once);
    each run and the child's peak RSS in KiB over all of them."""
    batch = json.dumps([[str(a) for a in case] for case in cases])
    data = _launch([sys.executable, "-c", _BATCH, str(ROOT), batch], env, timeout)
    assert data["rc"] == 0, data["stderr"][-3000:]
    runs = [Run(r["rc"], r["stdout"], r["stderr"], data["peak_kib"]) for r in json.loads(data["stdout"])]
    assert len(runs) == len(cases), data["stderr"][-3000:]
    return runs, data["peak_kib"]
