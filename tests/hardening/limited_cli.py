"""Run ``main.py`` in a child process under resource limits, so a regression fails fast.

``run_limited(*args)`` starts the child with RLIMIT_DATA of ``MEMORY_LIMIT`` (3 GiB: an
allocation of more fails at once instead of eating the machine; torch maps more address
space than that for its libraries, so RLIMIT_AS cannot be used, but its data stays far
below) and, with ``file_size``, RLIMIT_FSIZE (a write beyond it fails with EFBIG, "File
too large", as on a full or limited disk). It returns the exit code, the output and the
child's peak RSS, measured by a launcher process that has no other child.
``run_limited_many(cases)`` runs several command lines in one such child (torch is
imported once) and returns each run with the peak over all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.hardening.conftest import _BATCH, MAIN, ROOT, Run, child_env

MEMORY_LIMIT = 3 << 30

_LAUNCHER = r"""
import json, resource, subprocess, sys
limits = json.loads(sys.argv[1])

def apply():
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))

proc = subprocess.run(sys.argv[3:], capture_output=True, text=True, timeout=float(sys.argv[2]), preexec_fn=apply,
                      stdin=subprocess.DEVNULL)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "peak_kib": peak}))
"""


def _launch(command: list[str], file_size: int | None, env: dict[str, str] | None, timeout: float) -> dict:
    limits = {"RLIMIT_DATA": MEMORY_LIMIT}
    if file_size is not None:
        limits["RLIMIT_FSIZE"] = int(file_size)
    cmd = [sys.executable, "-c", _LAUNCHER, json.dumps(limits), str(timeout), sys.executable, *command]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env or child_env(), timeout=timeout + 30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def run_limited(*args: str | os.PathLike[str], file_size: int | None = None, env: dict[str, str] | None = None,
                timeout: float = 240) -> Run:
    """``python main.py ARGS`` with bounded memory (and file size); exit code, output, peak RSS."""
    data = _launch([str(MAIN), *map(str, args)], file_size, env, timeout)
    return Run(data["rc"], data["stdout"], data["stderr"], data["peak_kib"])


def run_limited_many(cases: list[list], env: dict[str, str] | None = None, timeout: float = 300) -> list[Run]:
    """Several ``main.py`` command lines, one after another in one bounded child; each Run
    carries the child's peak RSS over all of them."""
    batch = json.dumps([[str(a) for a in case] for case in cases])
    data = _launch(["-c", _BATCH, str(ROOT), batch], None, env, timeout)
    assert data["rc"] == 0, data["stderr"]
    return [Run(r["rc"], r["stdout"], r["stderr"], data["peak_kib"]) for r in json.loads(data["stdout"])]
