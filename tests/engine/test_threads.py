"""The thread budget: no side effects at import, the policy set at the entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runtime import threads
from engine.runtime.threads import ThreadBudgetError, parse_threads, plan_threads, prepare_process, threads_argument, wait_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS", threads.THREADS_ENV)


def clean_env() -> dict[str, str]:
    """This process's environment without the thread policy conftest applied."""
    env = {k: v for k, v in os.environ.items() if k not in POLICY_VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env or clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_engine_leaves_the_environment_unchanged():
    code = ("import json, os, sys; before = dict(os.environ); import engine, engine.runtime.threads, engine.core.paths; "
            "print(json.dumps([before == dict(os.environ), 'torch' in sys.modules]))")
    unchanged, torch_loaded = json.loads(run_python(code))
    assert unchanged
    assert not torch_loaded


def test_help_needs_no_torch():
    code = ("import sys, runpy; sys.argv = ['main.py', '--help']\n"
            "try:\n    runpy.run_path('main.py', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert exc.code == 0\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'cv2', 'PySide6') if m in sys.modules))")
    out = run_python(code)
    assert "usage: cnn-studio" in out and "--threads" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_a_command_applies_the_policy_before_torch_loads():
    # `models path` is quick and imports no torch; the policy is in the environment of
    # the process afterwards, where torch would read it on import.
    code = ("import os, sys, main; code = main.main(['--threads', '1', 'models', 'path']); "
            "print(json.dumps({k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'OMP_NUM_THREADS')}))")
    policy = json.loads(run_python("import json; " + code).strip().splitlines()[-1])
    assert policy["OMP_NUM_THREADS"] == "1"
    assert policy["OMP_WAIT_POLICY"] == "PASSIVE" or policy["GOMP_SPINCOUNT"] == threads.SHORT_SPIN


def test_torch_sees_the_planned_threads_and_the_users_wait_policy_wins():
    env = clean_env()
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    code = ("import os; from engine.runtime.threads import prepare_process; set_ = prepare_process('gui', 1); "
            "import torch; print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'], sorted(set_))")
    assert run_python(code, env=env).split() == ["1", "ACTIVE", "['OMP_NUM_THREADS']"]


def test_bad_thread_counts_get_one_clear_message():
    for bad in ("two", "-1", "1.5"):
        with pytest.raises(ThreadBudgetError, match="threads"):
            parse_threads(bad, "--threads")
    assert parse_threads("auto") is None and parse_threads("") is None and parse_threads("3") == 3
    env = clean_env()
    done = subprocess.run([sys.executable, "main.py", "--threads", "many", "models", "path"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: --threads='many' is not a number of threads; give a whole "
                                                "number such as 2, or 'auto'"]


def test_plans_per_situation():
    assert plan_threads("cli", cores=8).threads == 8
    assert plan_threads("gui", cores=8).threads == 7  # a core for capture + GUI
    assert plan_threads("gui", cores=2).threads == 2  # taking one of two would halve inference
    assert plan_threads("busy", cores=2, other_load=1.0).threads == 1
    assert plan_threads("busy", cores=8, other_load=2.6).threads == 5
    assert plan_threads("busy", cores=2, other_load=5.0).threads == 1  # never zero
    assert plan_threads("test", cores=16).threads == 2
    assert plan_threads("cli", 3, cores=8).threads == 3
    with pytest.raises(ValueError, match="situation"):
        plan_threads("server")


def test_user_environment_variable_overrides_the_plan(monkeypatch):
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert plan_threads("gui", cores=8).threads == 3
    monkeypatch.setenv(threads.THREADS_ENV, "zero")
    with pytest.raises(ThreadBudgetError, match=threads.THREADS_ENV):
        plan_threads("gui", cores=8)


def test_wait_policy_is_passive_unless_headless_and_quiet():
    assert wait_policy("gui", other_load=0.0) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert wait_policy("cli", other_load=1.2) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert wait_policy("cli", other_load=None) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert wait_policy("cli", other_load=0.05) == {"GOMP_SPINCOUNT": threads.SHORT_SPIN}
    env: dict[str, str] = {"PATH": "/bin"}
    chosen = prepare_process("busy", environ=env, other_load=1.0)
    assert chosen == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(plan_threads("busy", other_load=1.0).threads)}
    assert env == {"PATH": "/bin", **chosen}
    env = {"GOMP_SPINCOUNT": "0", "OMP_NUM_THREADS": "4"}  # the user's own settings stay
    assert prepare_process("cli", environ=env, other_load=0.0) == {}
    assert env == {"GOMP_SPINCOUNT": "0", "OMP_NUM_THREADS": "4"}


def test_measured_load_is_a_number_of_cores():
    load = threads.measure_other_load(0.05)
    if load is None:
        pytest.skip("no /proc/stat or load average on this system")
    assert 0.0 <= load <= (os.cpu_count() or 1) + 0.5


def test_threads_argument_is_found_before_argparse():
    assert threads_argument(["--frames", "3", "--threads", "2"]) == "2"
    assert threads_argument(["--threads=1"]) == "1"
    assert threads_argument(["--frames", "3"]) is None


def test_load_sampler_needs_a_baseline_then_reports_cores():
    sampler = threads.LoadSampler()
    first = sampler.sample()
    sum(i * i for i in range(200_000))  # our own CPU time is not "other load"
    second = sampler.sample()
    assert first is None
    if second is not None:
        assert 0.0 <= second <= (os.cpu_count() or 1) + 0.5


def test_governor_goes_busy_only_after_a_streak_and_comes_back():
    governor = threads.ThreadGovernor("gui", cores=2, patience=2, sampler=threads.LoadSampler())
    assert governor.threads == 2
    assert governor.update(1.0) == 2 and not governor.busy  # one busy sample is not enough
    assert governor.update(1.0) == 1 and governor.busy and governor.changed
    assert governor.update(1.0) == 1 and not governor.changed
    assert governor.update(0.1) == 1  # calm needs a streak too
    assert governor.update(0.1) == 2 and not governor.busy and governor.changed


def test_governor_respects_the_users_count(monkeypatch):
    monkeypatch.setenv(threads.THREADS_ENV, "1")
    governor = threads.ThreadGovernor("gui", cores=8)
    assert [governor.update(load) for load in (0.0, 6.0, 6.0, 6.0)] == [1, 1, 1, 1]


def test_the_model_thread_flushes_subnormal_numbers_to_zero():
    # Subnormal floats take a slow path on x86; after the budget is applied on the thread
    # that runs the models, they become zero (also in OpenMP's threads, started later).
    code = ("import torch; from engine.runtime.threads import apply_thread_budget; "
            "tiny = torch.full((4096,), 1e-39); print(int((tiny * 0.5 != 0).sum())); "
            "apply_thread_budget('cli', 2); print(int((tiny * 0.5 != 0).sum()))")
    before, after = run_python(code).split()
    assert int(before) == 4096 and int(after) == 0
