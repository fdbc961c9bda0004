"""The thread budget: how many threads PyTorch computes with and how its idle threads wait.

Two decisions, taken at the entry points (main.py, the CLI, bench scripts, the test
session), never at import:

1. ``prepare_process(situation)`` — **before torch is imported** — sets how OpenMP worker
   threads wait between operators. GNU OpenMP reads ``OMP_WAIT_POLICY`` /
   ``GOMP_SPINCOUNT`` once, when torch loads it, so this is the only moment it can be
   chosen. Spinning threads keep a core busy after every parallel region; when anything
   else needs that core (the GUI and capture threads, another program) the spinning
   steals it and every frame gets slower (measured on 2 shared cores, yolov4-tiny at 416:
   102-117 ms per frame with the former short spin vs 56-61 ms passive). So waiting is
   passive everywhere except for a headless run on a quiet machine, where a short bounded
   spin (``GOMP_SPINCOUNT=20000``, a few tens of microseconds) bridges the gaps between
   the operators of one frame.
2. ``apply_thread_budget(situation)`` — after torch is imported — sizes torch's intra-op
   thread pool: ``"cli"`` uses every core this process may run on; ``"gui"`` leaves a
   core to the capture and GUI threads when there are four or more; ``"busy"`` measures
   what other processes use (``/proc/stat`` over a short interval, else the load
   average) and takes only the cores left free. The user's choice wins over all of it:
   ``--threads N`` on the command line or ``$CNN_STUDIO_THREADS``.

A user who sets ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` themselves keeps their setting.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

from engine.core.errors import UserError

log = logging.getLogger(__name__)

THREADS_ENV = "CNN_STUDIO_THREADS"
SITUATIONS = ("cli", "gui", "busy", "bench", "test")
# The wait variables GNU OpenMP (Linux wheels) and Intel OpenMP (some builds) read.
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
SHORT_SPIN = "20000"  # GOMP spin iterations before sleeping: tens of microseconds
# How often (seconds) the interpreter offers the GIL to another thread, in the GUI.
GUI_SWITCH_INTERVAL_S = 0.001
# Other processes using less than this many cores leave the machine "quiet".
QUIET_LOAD = 0.3


class ThreadBudgetError(UserError, ValueError):
    """A thread count from the user that is not a positive integer."""


@dataclass(frozen=True)
class ThreadPlan:
    """What the budget chose: ``threads`` for torch's intra-op pool, ``reason`` in words."""

    situation: str
    threads: int
    cores: int
    other_load: float | None
    reason: str


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_threads(value: str | int | None, source: str = THREADS_ENV) -> int | None:
    """A user's thread count -> int, None when unset/empty/"auto"; bad values raise
    ThreadBudgetError naming ``source``."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "auto", "0"):
        return None
    try:
        count = int(text)
    except ValueError:
        raise ThreadBudgetError(f"{source}={value!r} is not a number of threads; give a whole number "
                                "such as 2, or 'auto'") from None
    if count < 1:
        raise ThreadBudgetError(f"{source}={value!r}: the number of threads must be 1 or more (or 'auto')")
    return count


def _machine_cores() -> int:
    return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat, None where absent."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def measure_other_load(interval: float = 0.25) -> float | None:
    """Cores' worth of CPU used by *other* processes over the next ``interval`` seconds.

    Machine-wide busy time from /proc/stat minus this process's own CPU time over the
    same interval, in cores (0.0 = idle machine, 1.0 = one core fully used by others).
    Falls back to the 1-minute load average minus this process's share where /proc/stat
    is missing; None when neither exists (macOS, Windows without /proc).
    """
    first = _cpu_times()
    if first is not None:
        own0 = time.process_time()
        wall0 = time.monotonic()
        time.sleep(interval)
        second = _cpu_times()
        own = time.process_time() - own0
        wall = time.monotonic() - wall0
        if second is not None and second[1] > first[1]:
            busy_fraction = (second[0] - first[0]) / (second[1] - first[1])
            machine_busy = busy_fraction * _machine_cores()  # /proc/stat counts every CPU
            return max(0.0, machine_busy - own / max(wall, 1e-6))
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)  # our own runnable thread counts once
    except (AttributeError, OSError):
        return None


def user_threads(override: int | str | None = None) -> int | None:
    """The user's explicit choice: ``override`` (from --threads), else $CNN_STUDIO_THREADS."""
    if override is not None:
        return parse_threads(override, "--threads")
    return parse_threads(os.environ.get(THREADS_ENV), THREADS_ENV)


def plan_threads(situation: str = "cli", override: int | str | None = None, *,
                 cores: int | None = None, other_load: float | None = None) -> ThreadPlan:
    """Choose torch's intra-op thread count for ``situation`` (see the module docstring).

    ``cores`` and ``other_load`` (cores used by other processes) default to measuring
    this machine; ``"busy"`` measures the load when it is not given. ``override`` (or
    $CNN_STUDIO_THREADS) wins over everything.
    """
    if situation not in SITUATIONS:
        raise ValueError(f"unknown situation {situation!r}; use one of {', '.join(SITUATIONS)}")
    cores = available_cores() if cores is None else max(1, int(cores))
    chosen = user_threads(override)
    if chosen is not None:
        return ThreadPlan(situation, chosen, cores, other_load, "set by the user")
    if situation == "busy":
        if other_load is None:
            other_load = measure_other_load()
        if other_load is None:
            return ThreadPlan(situation, max(1, cores - 1), cores, None, "load unknown: one core left free")
        free = max(1, int(round(cores - other_load)))
        return ThreadPlan(situation, min(cores, free), cores, other_load,
                          f"other processes use {other_load:.1f} of {cores} cores")
    if situation == "test":
        # Many test processes may share a machine: two threads is enough to exercise
        # the parallel paths without oversubscribing it.
        return ThreadPlan(situation, min(cores, 2), cores, other_load, "tests: at most two")
    if situation == "gui":
        # Capture and GUI threads are light but must never wait for a core: on 4+ cores
        # one is theirs; on 2-3 cores taking one away would halve inference.
        threads = cores - 1 if cores >= 4 else cores
        return ThreadPlan(situation, threads, cores, other_load, "GUI: capture and GUI threads keep a share")
    return ThreadPlan(situation, cores, cores, other_load, "all cores")


def wait_policy(situation: str, other_load: float | None = None) -> dict[str, str]:
    """The OpenMP wait settings for ``situation``: PASSIVE unless a headless run has the
    machine to itself (``other_load`` below QUIET_LOAD), where a short spin is faster."""
    quiet = other_load is not None and other_load < QUIET_LOAD
    if situation in ("cli", "bench") and quiet:
        return {"GOMP_SPINCOUNT": SHORT_SPIN}
    return {"OMP_WAIT_POLICY": "PASSIVE"}


def prepare_process(situation: str = "cli", threads: int | str | None = None, *, environ=None,
                    other_load: float | None = None, measure: bool = True) -> dict[str, str]:
    """Set this process's thread policy; call before ``import torch``.

    Writes into ``environ`` (default ``os.environ``, so child processes inherit it):
    the OpenMP wait policy (``wait_policy``) unless the user set any of WAIT_VARIABLES,
    and ``OMP_NUM_THREADS`` from ``plan_threads`` (torch sizes its pool from it when it
    loads) unless the user set it and gave no ``threads``/$CNN_STUDIO_THREADS. The
    other processes' load is measured (a fifth of a second) only where it decides
    something: headless situations and "busy". Returns what was set. If torch is already
    imported in this process the wait policy can no longer change: a log line says so, and
    only the thread count is applied (through torch). With another ``environ`` (e.g. for
    a child process) nothing of this process changes.
    """
    if situation not in SITUATIONS:
        raise ValueError(f"unknown situation {situation!r}; use one of {', '.join(SITUATIONS)}")
    env = os.environ if environ is None else environ
    explicit = user_threads(threads) if threads is not None else parse_threads(env.get(THREADS_ENV), THREADS_ENV)
    if other_load is None and measure and situation in ("cli", "bench", "busy"):
        other_load = measure_other_load(0.2)
    chosen: dict[str, str] = {}
    if not any(name in env for name in WAIT_VARIABLES):
        chosen.update(wait_policy(situation, other_load))
    if explicit is not None or "OMP_NUM_THREADS" not in env:
        plan = plan_threads(situation, explicit, other_load=other_load)
        chosen["OMP_NUM_THREADS"] = str(plan.threads)
    if env is os.environ and "torch" in sys.modules:
        log.info("torch was imported before the thread policy was set; OpenMP keeps its wait policy")
        if "OMP_NUM_THREADS" in chosen:
            sys.modules["torch"].set_num_threads(int(chosen["OMP_NUM_THREADS"]))
        return {}
    env.update(chosen)
    if situation == "gui" and env is os.environ:
        # The live worker hands the GIL back after every operator and must get it again
        # before the next one; with the default 5 ms switch interval it waits behind the
        # GUI and capture threads each time. 1 ms measured +10 % in-app fps (yolov4-tiny,
        # 2 cores: 15.1/16.4 -> 17.5/18.1 fps, bench/gui_live.py).
        sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    log.debug("thread policy for %s (other load %s): %s", situation, other_load, chosen)
    return chosen


def threads_argument(argv: list[str] | None = None) -> str | None:
    """The value of ``--threads N`` / ``--threads=N`` in ``argv`` (default sys.argv), for
    scripts that must set the policy before argparse runs (their imports load torch)."""
    argv = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return None


def apply_thread_budget(situation: str = "cli", override: int | str | None = None, **plan_kwargs) -> ThreadPlan:
    """Plan (see ``plan_threads``) and apply: ``torch.set_num_threads``. Imports torch.

    Call it **on the thread that runs the model** (e.g. in a Task's ``load`` or
    ``configure``, which run on the worker thread): with OpenMP, a thread that has
    already computed keeps its own thread count, so a call from the GUI thread does not
    reach a running worker (measured with torch 2.14).
    """
    plan = plan_threads(situation, override, **plan_kwargs)
    import torch

    if torch.get_num_threads() != plan.threads:
        torch.set_num_threads(plan.threads)
    # Numbers below 1.2e-38 (softmax tails, untrained layers) take a slow microcode path on
    # x86: RT-DETR's forward ran 2097 ms with them and 1129 ms flushed to zero (seeded
    # weights, this 2-core CPU). The threads OpenMP starts later inherit the setting.
    torch.set_flush_denormal(True)
    log.info("torch intra-op threads: %d (%s: %s)", plan.threads, plan.situation, plan.reason)
    return plan


class LoadSampler:
    """Other processes' CPU use between successive ``sample()`` calls, without sleeping.

    For a live loop (e.g. every few seconds from a timer): each call returns the cores'
    worth of CPU used by other processes since the previous call (None on the first call
    and where /proc/stat is missing).
    """

    def __init__(self) -> None:
        self._last: tuple[tuple[float, float], float, float] | None = None

    def sample(self) -> float | None:
        times = _cpu_times()
        now = (times, time.process_time(), time.monotonic()) if times is not None else None
        previous, self._last = self._last, now
        if previous is None or now is None or now[0][1] <= previous[0][1]:
            return None
        busy = (now[0][0] - previous[0][0]) / (now[0][1] - previous[0][1]) * _machine_cores()
        own = (now[1] - previous[1]) / max(now[2] - previous[2], 1e-6)
        return max(0.0, busy - own)


class ThreadGovernor:
    """Adapts the intra-op thread count of a live loop to what else runs.

    ``situation`` is the calm plan ("gui" or "cli"); when other processes use more than
    ``busy_above`` cores for ``patience`` samples in a row the plan becomes "busy", and
    back when they use less than half that for as long. ``update()`` takes one load
    sample and returns the thread count to use now; ``changed`` says whether it moved.
    Qt-free and torch-free: the caller applies the count (``torch.set_num_threads`` on
    the worker thread). A user's --threads / $CNN_STUDIO_THREADS pins the count.
    """

    def __init__(self, situation: str = "gui", *, busy_above: float = 0.5, patience: int = 2,
                 sampler: LoadSampler | None = None, cores: int | None = None) -> None:
        self.situation, self.busy_above, self.patience = situation, busy_above, max(1, patience)
        self.sampler = sampler or LoadSampler()
        self.cores = available_cores() if cores is None else cores
        self.busy = False
        self._streak = 0
        self._busy_load = busy_above
        self.plan = plan_threads(situation, cores=self.cores)
        self.changed = False
        self.sampler.sample()  # the baseline for the first update

    @property
    def threads(self) -> int:
        return self.plan.threads

    def update(self, other_load: float | None = None) -> int:
        """One step: ``other_load`` (cores) or a fresh sample; returns the thread count."""
        load = self.sampler.sample() if other_load is None else other_load
        self.changed = False
        if load is None or self.plan.reason == "set by the user":
            return self.plan.threads
        flip = load < self.busy_above / 2 if self.busy else load > self.busy_above
        self._streak = self._streak + 1 if flip else 0
        if self._streak >= self.patience:
            self.busy, self._streak = not self.busy, 0
        if load > self.busy_above:
            self._busy_load = load
        # While busy, a calm sample keeps the last busy level until the streak says calm.
        plan = plan_threads("busy" if self.busy else self.situation, cores=self.cores,
                            other_load=self._busy_load if self.busy else None)
        self.changed = plan.threads != self.plan.threads
        self.plan = plan
        return plan.threads
