"""The inference worker: newest frame only, survives failing frames, swaps tasks live."""

from __future__ import annotations

import threading
import time

import numpy as np
import torch

from engine.core.frame import Frame
from engine.io.demo import DemoSource
from engine.runtime.worker import InferenceWorker, Task, running_worker
from tests.engine.worker_collector import Collector


def make_frame(i: int, value: int = 0) -> Frame:
    return Frame(np.full((8, 8, 3), value, np.uint8), i, time.monotonic(), "test")


class MeanTask(Task):
    """A tiny real model: the mean brightness of the frame, computed with torch."""

    name = "mean"

    def __init__(self, delay: float = 0.0, fail_on: set[int] | None = None, scale: float = 1.0) -> None:
        self.delay = delay
        self.fail_on = fail_on or set()
        self.scale = scale
        self.loaded_on: torch.device | None = None
        self.load_thread: str | None = None
        self.closed = threading.Event()
        self.grad_enabled: list[bool] = []

    def load(self, device: torch.device) -> None:
        self.loaded_on = device
        self.load_thread = threading.current_thread().name
        self.weight = torch.tensor(self.scale, device=device)

    def preprocess(self, frame: Frame) -> torch.Tensor:
        if frame.index in self.fail_on:
            raise ValueError(f"cannot handle frame {frame.index}")
        return torch.from_numpy(frame.image).float()

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_enabled.append(torch.is_grad_enabled())
        if self.delay:
            time.sleep(self.delay)
        return x.mean() * self.weight

    def postprocess(self, y: torch.Tensor, frame: Frame) -> float:
        return float(y)

    def close(self) -> None:
        self.closed.set()


def test_task_loads_in_the_worker_thread_and_runs_in_inference_mode():
    c = Collector()
    task = MeanTask()
    with running_worker(c.on_result, task, device="cpu", on_event=c.on_event) as worker:
        worker.submit(make_frame(0, 10))
        assert c.wait(lambda c: c.results)
    assert task.load_thread and task.load_thread.startswith("inference:")
    assert task.grad_enabled == [False]
    assert c.results[0].result == 10.0
    timings = c.results[0].timings
    assert timings.total_ms >= timings.inference_ms >= 0
    assert timings.latency_ms >= timings.total_ms
    assert [e.kind for e in c.events][:2] == ["loading", "ready"]
    assert task.closed.is_set()


def test_worker_survives_a_failing_frame():
    c = Collector()
    with running_worker(c.on_result, MeanTask(fail_on={1}), device="cpu", on_event=c.on_event) as worker:
        for i in range(3):
            worker.submit(make_frame(i, i))
            assert c.wait(lambda c, i=i: any(r.frame.index == i for r in c.results) or any(e.kind == "frame_error" and str(i) in e.message for e in c.events))
        stats = worker.stats
    assert [r.frame.index for r in c.results] == [0, 2]
    errors = [e for e in c.events if e.kind == "frame_error"]
    assert len(errors) == 1 and "frame 1" in errors[0].message and isinstance(errors[0].error, ValueError)
    assert stats.errors == 1 and stats.processed == 2


def test_a_task_that_fails_to_load_is_reported_and_the_worker_goes_on():
    class Broken(MeanTask):
        name = "broken"

        def load(self, device):
            raise FileNotFoundError("weights.pt")

    c = Collector()
    worker = InferenceWorker(c.on_result, c.on_event, device="cpu")
    worker.start()
    try:
        worker.set_task(Broken())
        assert c.wait(lambda c: any(e.kind == "load_error" for e in c.events))
        worker.set_task(MeanTask())
        worker.submit(make_frame(0, 5))
        assert c.wait(lambda c: c.results)
    finally:
        worker.stop()
    assert "weights.pt" in next(e.message for e in c.events if e.kind == "load_error")


def test_slow_task_takes_only_the_newest_frame():
    """Frames every ~5 ms into a 40 ms model: most are dropped, none waits behind another."""
    c = Collector()
    delay = 0.04
    with running_worker(c.on_result, MeanTask(delay=delay), device="cpu") as worker:
        started = time.monotonic()
        for i in range(100):
            worker.submit(make_frame(i))
            time.sleep(0.005)
        c.wait(lambda c: c.results and c.results[-1].frame.index == 99, timeout=5)
        elapsed = time.monotonic() - started
        stats = worker.stats
    processed = [r.frame.index for r in c.results]
    assert processed == sorted(processed) and processed[-1] == 99
    # The model can finish at most one frame per `delay`, whatever the machine's load ...
    assert len(processed) <= elapsed / delay + 2
    # ... and every frame it did not process was dropped, not queued.
    assert stats.submitted == 100 and stats.dropped == 100 - len(processed)
    assert stats.dropped > 0


def test_task_swap_while_running_needs_no_restart():
    c = Collector()
    first, second = MeanTask(scale=1.0), MeanTask(scale=2.0)
    second.name = "double"
    source = DemoSource(width=32, height=24, fps=100)
    with running_worker(c.on_result, first, device="cpu") as worker:
        source.subscribe(worker.submit)
        source.start()
        try:
            assert c.wait(lambda c: len(c.results) >= 3)
            thread_before = worker._thread
            worker.set_task(second)
            assert c.wait(lambda c: sum(r.task == "double" for r in c.results) >= 3)
            assert worker._thread is thread_before and worker.running
        finally:
            source.stop()
    assert first.closed.is_set()
    tasks = [r.task for r in c.results]
    switch = tasks.index("double")
    assert set(tasks[:switch]) == {"mean"} and set(tasks[switch:]) == {"double"}


def test_grad_tasks_run_with_gradients():
    class GradTask(MeanTask):
        needs_grad = True

    c = Collector()
    task = GradTask()
    with running_worker(c.on_result, task, device="cpu") as worker:
        worker.submit(make_frame(0))
        assert c.wait(lambda c: c.results)
    assert task.grad_enabled == [True]


# -- live core v2: generations, settings snapshots, restart -------------------------------

def test_a_swap_to_a_task_of_the_same_name_never_lets_an_old_result_through():
    """Both tasks are called "mean"; only the generation tells them apart."""
    c = Collector()
    worker = InferenceWorker(c.on_result, c.on_event, device="cpu")
    worker.start()
    try:
        first = worker.set_task(MeanTask(delay=0.05, scale=1.0))
        for i in range(5):
            worker.submit(make_frame(i, 10))
            time.sleep(0.02)
        second = worker.set_task(MeanTask(scale=3.0))  # swapped while a frame is in hand
        assert second > first
        for i in range(5, 40):
            worker.submit(make_frame(i, 10))
            time.sleep(0.01)
        assert c.wait(lambda c: sum(r.generation == second for r in c.results) >= 5)
    finally:
        worker.stop()
    for r in c.results:
        assert r.task == "mean"
        assert r.result == (30.0 if r.generation == second else 10.0)  # never the old model under the new id
    swapped_at = next(k for k, r in enumerate(c.results) if r.generation == second)
    assert all(r.generation == second for r in c.results[swapped_at:])


class SnapshotTask(Task):
    """Records which settings snapshot each step of a frame saw."""

    name = "snapshot"

    def configure(self, settings):
        time.sleep(0.0005)  # widen the window in which a torn read could happen
        self.settings = settings

    def preprocess(self, frame):
        return [self.settings]

    def infer(self, seen):
        time.sleep(0.001)
        return seen + [self.settings, torch.is_grad_enabled() == self.needs_grad]

    def postprocess(self, seen, frame):
        time.sleep(0.001)
        return seen + [self.settings]

    @property
    def needs_grad(self) -> bool:
        return bool(self.settings and self.settings[1])


def test_settings_flipped_from_another_thread_never_mix_within_a_frame():
    c = Collector()
    worker = InferenceWorker(c.on_result, c.on_event, device="cpu")
    worker.start()
    stop = threading.Event()

    def flipper():
        k = 0
        while not stop.is_set():
            k += 1
            worker.update((k, k % 2 == 0))  # a frozen snapshot: (version, needs gradients)
            time.sleep(0.0002)

    def feeder():
        i = 0
        while not stop.is_set():
            worker.submit(make_frame(i))
            i += 1
            time.sleep(0.002)

    threads = [threading.Thread(target=flipper), threading.Thread(target=feeder)]
    try:
        worker.set_task(SnapshotTask())
        for t in threads:
            t.start()
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
        worker.stop()
    flipped = [r for r in c.results if r.settings is not None]
    assert len(flipped) >= 10
    versions = set()
    for r in flipped:
        before, during, grad_matched, after = r.result
        assert before == during == after == r.settings  # one snapshot from start to end
        assert grad_matched  # inference mode or gradients, as that very snapshot says
        versions.add(r.settings[0])
    assert len(versions) >= 5  # the settings really did change under the stream


def _process_cpu_seconds() -> float:
    return time.process_time()


def test_worker_stops_and_starts_again_and_idles_without_spinning():
    c = Collector()
    worker = InferenceWorker(c.on_result, c.on_event, device="cpu")
    worker.set_task(MeanTask())
    for round_ in range(3):
        worker.start()
        base = len(c.results)
        for i in range(20):
            worker.submit(make_frame(1000 * round_ + i, 4))
            time.sleep(0.005)
        assert c.wait(lambda c, base=base: len(c.results) >= base + 3), f"no frames processed in round {round_}"
        time.sleep(0.2)  # let the last frame finish before measuring the idle worker
        cpu = _process_cpu_seconds()
        time.sleep(1.0)
        idle = _process_cpu_seconds() - cpu
        assert idle < 0.1, f"the idle worker used {idle:.2f} CPU-s in 1 s (round {round_})"
        worker.stop()
        assert not worker.running
    stopped = [e for e in c.events if e.kind == "stopped"]
    assert len(stopped) == 3


class StagedTask(MeanTask):
    """A task whose ``status`` moves on by itself, as a background compile's does."""

    def __init__(self) -> None:
        super().__init__()
        self.stage = "warming up"

    @property
    def status(self) -> str:
        return self.stage


def test_a_status_change_is_reported_once_with_frames_and_without():
    c = Collector()
    task = StagedTask()
    with running_worker(c.on_result, task, device="cpu", on_event=c.on_event) as worker:
        assert c.wait(lambda c: any(e.kind == "ready" for e in c.events))
        worker.submit(make_frame(0))
        assert c.wait(lambda c: c.results)
        task.stage = "ready to go"  # no frame comes: the idle worker still notices
        assert c.wait(lambda c: any(e.kind == "status" for e in c.events), timeout=5)
        for i in range(1, 4):  # one at a time: the mailbox keeps only the newest
            worker.submit(make_frame(i))
            assert c.wait(lambda c, i=i: len(c.results) == i + 1)
    ready = next(e for e in c.events if e.kind == "ready")
    assert ready.message == "mean in warming up ready on cpu"
    assert [e.message for e in c.events if e.kind == "status"] == ["mean in ready to go on cpu"]
