"""JobRunner: progress, results, failures, cancel, and "a new job cancels the stale one"."""

from __future__ import annotations

import threading

import pytest

from gui.common.jobs import JobControl, JobRunner


@pytest.fixture
def runner(qtbot):
    job_runner = JobRunner(name="test")
    yield job_runner
    job_runner.shutdown()


def counting(n: int):
    for i in range(n):
        yield i
    return "counted"


def test_generator_progress_and_result(qtbot, runner):
    seen = []
    runner.progress.connect(seen.append)
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start(counting(5))
    assert blocker.args == ["counted"]
    qtbot.waitUntil(lambda: len(seen) == 5, timeout=2000)
    assert seen == [0, 1, 2, 3, 4]


def test_callable_job_reports_through_control(qtbot, runner):
    seen = []
    runner.progress.connect(seen.append)

    def job(control: JobControl) -> int:
        control.report(1, 10, "file.bin")
        return 42

    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start(job)
    assert blocker.args == [42]
    qtbot.waitUntil(lambda: seen == [(1, 10, "file.bin")], timeout=2000)


def test_failure_becomes_a_message(qtbot, runner):
    def broken():
        yield 1
        raise OSError("disk full while writing /tmp/x")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(broken())
    assert "disk full" in blocker.args[0]


def test_cancel_stops_a_generator_between_steps_and_runs_its_cleanup(qtbot, runner):
    cleaned = threading.Event()
    steps = []
    started = threading.Event()

    def endless():
        try:
            while True:
                steps.append(1)
                started.set()
                threading.Event().wait(0.01)
                yield len(steps)
        finally:
            cleaned.set()

    finished = []
    runner.finished.connect(finished.append)
    runner.start(endless())
    assert started.wait(5)
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel()
    assert cleaned.is_set()
    assert runner.wait(2)
    count = len(steps)
    _flush_queued(qtbot, runner)
    assert len(steps) == count  # nothing runs after cancel
    assert finished == []


def test_cancel_reaches_callable_jobs_through_the_event(qtbot, runner):
    started = threading.Event()

    def job(control: JobControl):
        started.set()
        while True:  # like WeightsCache.fetch: checks the event between chunks
            control.check()
            control.cancel_event.wait(0.01)

    runner.start(job)
    assert started.wait(5)
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel()


def test_new_job_cancels_the_stale_one_and_only_the_new_one_reports(qtbot, runner):
    first_stopped = threading.Event()
    first_started = threading.Event()

    def slow():
        try:
            while True:
                first_started.set()
                threading.Event().wait(0.01)
                yield "stale"
        finally:
            first_stopped.set()

    results, progress, cancelled = [], [], []
    runner.finished.connect(results.append)
    runner.progress.connect(progress.append)
    runner.cancelled.connect(lambda: cancelled.append(True))
    runner.start(slow())
    assert first_started.wait(5)
    qtbot.waitUntil(lambda: "stale" in progress, timeout=2000)
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(counting(2))
    assert first_stopped.wait(5)
    assert results == ["counted"]
    assert runner.wait(5)
    _flush_queued(qtbot, runner)
    assert cancelled == []  # the stale job's cancellation is not reported as the new job's
    assert progress[-2:] == [0, 1]


def _flush_queued(qtbot, runner) -> None:
    """Deliver every report the (finished) job thread queued: a sentinel queued after them
    through the same object arrives last, so once it is in, nothing else is pending."""
    from PySide6.QtCore import Qt

    arrived = []
    sentinel = object()

    def seen(job_id, value):
        if value is sentinel:
            arrived.append(True)

    runner._signals.progress.connect(seen, Qt.ConnectionType.QueuedConnection)
    runner._signals.progress.emit(-1, sentinel)  # job id -1 is nobody's: the runner ignores it
    qtbot.waitUntil(lambda: arrived == [True], timeout=5000)
    runner._signals.progress.disconnect(seen)


def test_failed_carries_the_exception_and_its_type(qtbot, runner):
    def broken():
        yield 1
        raise KeyError("missing layer")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(broken())
    failure = blocker.args[0]
    assert isinstance(failure.exception, KeyError)
    assert failure == "KeyError: 'missing layer'"


def test_a_job_that_outlives_its_runner_ends_quietly(qtbot):
    """The runner's owner (a closed tab) is deleted while the job still runs: the job's last
    reports go nowhere, and its thread ends without an unhandled exception."""
    from PySide6.QtCore import QObject
    from shiboken6 import delete

    owner = QObject()
    runner = JobRunner(owner, name="orphan")
    go, errors = threading.Event(), []
    threading.excepthook, previous = (lambda args: errors.append(args.exc_value)), threading.excepthook

    def job(control: JobControl):
        go.wait(5)
        control.report("late progress")
        return "late result"

    try:
        runner.start(job)
        thread = runner._thread
        delete(owner)  # the runner and its signal object go with it
        go.set()
        thread.join(5)
    finally:
        threading.excepthook = previous
    assert not thread.is_alive() and errors == []
