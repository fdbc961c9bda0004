"""The inference runtime: a worker thread that owns one task (model + device) at a time.

Frames arrive through a latest-frame-wins ``Mailbox``, so a slow model never builds a
backlog: it always works on the newest frame and the rest are counted as dropped.
Results leave as plain data through a callback; the GUI adapts it to a Qt signal.

Timing convention: all durations are milliseconds; ``latency_ms`` is measured from the
frame's capture timestamp (time.monotonic) to the moment its result is ready.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import torch

from engine.device import choose_device
from engine.mailbox import Mailbox
from engine.sources import Frame

log = logging.getLogger(__name__)


class Task:
    """What runs on each live frame. Subclass and override the four steps.

    ``load`` is called once, inside the worker thread, before the first frame: build
    the model there, move it to ``device`` and warm it up, so the GUI never waits on
    it. The worker times ``preprocess``, ``infer`` and ``postprocess`` separately.
    ``postprocess`` returns plain data (ideally a frozen dataclass of numpy arrays).

    Live settings (thresholds, a chosen layer) are plain attributes read each frame.
    ``needs_grad``: run under torch.enable_grad() instead of inference mode.
    """

    name: str = "task"
    needs_grad: bool = False

    def load(self, device: torch.device) -> None:
        """Build and warm up the model on ``device`` (worker thread)."""

    def preprocess(self, frame: Frame) -> Any:
        return frame

    def infer(self, inputs: Any) -> Any:
        return inputs

    def postprocess(self, outputs: Any, frame: Frame) -> Any:
        return outputs

    def close(self) -> None:
        """Release what ``load`` took (worker thread)."""


@dataclass(frozen=True)
class Timings:
    """Where the time of one frame went, in milliseconds."""

    capture_age_ms: float  # capture -> the worker started on it
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    total_ms: float  # preprocess + inference + postprocess
    latency_ms: float  # capture -> result ready (end to end, before display)


@dataclass(frozen=True, eq=False)
class TaskResult:
    """One processed frame: which task, the frame it saw, its plain-data result, timings."""

    task: str
    frame: Frame
    result: Any
    timings: Timings


@dataclass(frozen=True)
class WorkerEvent:
    """A change the user should hear about.

    kind: "loading", "ready", "frame_error", "load_error" or "stopped".
    """

    kind: str
    task: str
    message: str = ""
    error: BaseException | None = None


@dataclass(frozen=True)
class WorkerStats:
    """Counters of a worker; fps is measured over the last ~2 seconds of results."""

    submitted: int
    processed: int
    dropped: int
    errors: int
    fps: float
    last_timings: Timings | None


class InferenceWorker:
    """One thread that owns a task and runs it on the newest submitted frame.

    on_result(TaskResult) and on_event(WorkerEvent) are called on the worker thread.
    ``set_task`` swaps the task while frames keep flowing: the new task is loaded and
    the old one closed inside the worker thread, so models never cross threads.
    """

    def __init__(
        self,
        on_result: Callable[[TaskResult], None],
        on_event: Callable[[WorkerEvent], None] | None = None,
        device: str | torch.device | None = None,
        name: str = "worker",
    ) -> None:
        self.on_result = on_result
        self.on_event = on_event
        self.device = device if isinstance(device, torch.device) else choose_device(device)
        self.name = name
        self._frames: Mailbox[Frame] = Mailbox()
        self._pending: Mailbox[Task | None] = Mailbox()
        self._task: Task | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._processed = 0
        self._errors = 0
        self._result_times: deque[float] = deque(maxlen=240)
        self._last_timings: Timings | None = None
        self._loading = False

    # -- control (any thread) ----------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"inference:{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the frame in hand; the current task is closed in it."""
        self._stop.set()
        self._frames.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.1f s", self.name, timeout)

    def set_task(self, task: Task | None) -> None:
        """Replace the running task (None: idle). Takes effect before the next frame."""
        # The loop polls every 0.1 s, so a swap applies even when no frame arrives.
        self._pending.put(task)

    def submit(self, frame: Frame) -> None:
        """Offer a frame; an older one not yet started is dropped."""
        self._frames.put(frame)

    @property
    def task(self) -> Task | None:
        return self._task

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def busy_loading(self) -> bool:
        return self._loading

    @property
    def stats(self) -> WorkerStats:
        times = list(self._result_times)
        now = time.monotonic()
        recent = [t for t in times if now - t <= 2.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
        return WorkerStats(
            submitted=self._frames.put_count,
            processed=self._processed,
            dropped=self._frames.dropped,
            errors=self._errors,
            fps=fps,
            last_timings=self._last_timings,
        )

    # -- worker thread ---------------------------------------------------------------
    def _emit(self, kind: str, task: Task | None, message: str = "", error: BaseException | None = None) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(WorkerEvent(kind, task.name if task else "", message, error))
        except Exception:
            log.exception("worker event callback failed")

    def _swap(self) -> None:
        if not self._pending.full:
            return
        new_task = self._pending.take(timeout=0)
        old, self._task = self._task, None
        if old is not None:
            try:
                old.close()
            except Exception:
                log.exception("closing task %s failed", old.name)
        if new_task is None:
            return
        self._loading = True
        self._emit("loading", new_task, f"loading {new_task.name} on {self.device}")
        try:
            new_task.load(self.device)
        except Exception as exc:  # noqa: BLE001 - reported to the user, the worker survives
            log.exception("loading %s failed", new_task.name)
            self._emit("load_error", new_task, f"{new_task.name} could not be loaded: {exc}", exc)
            self._loading = False
            return
        self._loading = False
        self._task = new_task
        self._emit("ready", new_task, f"{new_task.name} ready on {self.device}")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._swap()
                frame = self._frames.take(timeout=0.1)
                if frame is None or self._stop.is_set():
                    continue
                self._swap()  # a swap requested while we waited applies to this frame
                task = self._task
                if task is None:
                    continue
                self._process(task, frame)
        finally:
            task, self._task = self._task, None
            if task is not None:
                try:
                    task.close()
                except Exception:
                    log.exception("closing task %s failed", task.name)
            self._emit("stopped", task)

    def _process(self, task: Task, frame: Frame) -> None:
        grad_mode = torch.enable_grad() if task.needs_grad else torch.inference_mode()
        started = time.monotonic()
        try:
            with grad_mode:
                inputs = task.preprocess(frame)
                t1 = time.monotonic()
                outputs = task.infer(inputs)
                if self.device.type == "cuda":
                    # Kernels are asynchronous: without this the time would land in postprocess.
                    torch.cuda.synchronize(self.device)
                t2 = time.monotonic()
                result = task.postprocess(outputs, frame)
                t3 = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the stream
            self._errors += 1
            log.debug("frame %d failed in %s", frame.index, task.name, exc_info=True)
            self._emit("frame_error", task, f"{task.name} failed on frame {frame.index}: {exc}", exc)
            return
        timings = Timings(
            capture_age_ms=(started - frame.timestamp) * 1000.0,
            preprocess_ms=(t1 - started) * 1000.0,
            inference_ms=(t2 - t1) * 1000.0,
            postprocess_ms=(t3 - t2) * 1000.0,
            total_ms=(t3 - started) * 1000.0,
            latency_ms=(t3 - frame.timestamp) * 1000.0,
        )
        self._processed += 1
        self._result_times.append(t3)
        self._last_timings = timings
        try:
            self.on_result(TaskResult(task.name, frame, result, timings))
        except Exception:
            log.exception("result callback failed")


class Runtime:
    """Several workers fed by one source: one worker per active task slot.

    ``attach(source)`` subscribes every worker to the source's frames; ``set_task(slot,
    task)`` starts the slot's worker on first use. Used by the GUI (one slot per live
    view) and by benchmarks.
    """

    def __init__(self, on_result: Callable[[str, TaskResult], None], on_event: Callable[[str, WorkerEvent], None] | None = None, device: str | torch.device | None = None) -> None:
        self.device = device if isinstance(device, torch.device) else choose_device(device)
        self._on_result = on_result
        self._on_event = on_event
        self.workers: dict[str, InferenceWorker] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def worker(self, slot: str) -> InferenceWorker:
        if slot not in self.workers:
            worker = InferenceWorker(
                on_result=lambda r, s=slot: self._on_result(s, r),
                on_event=(lambda e, s=slot: self._on_event(s, e)) if self._on_event else None,
                device=self.device,
                name=slot,
            )
            worker.start()
            self.workers[slot] = worker
        return self.workers[slot]

    def set_task(self, slot: str, task: Task | None) -> None:
        self.worker(slot).set_task(task)

    def submit(self, frame: Frame) -> None:
        for worker in self.workers.values():
            worker.submit(frame)

    def attach(self, source: Any) -> None:
        """Feed every worker from ``source`` (a FrameSource); replaces a previous source."""
        self.detach()
        self._unsubscribe = source.subscribe(self.submit)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def stop(self) -> None:
        self.detach()
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()


@contextlib.contextmanager
def running_worker(on_result: Callable[[TaskResult], None], task: Task, device: str | torch.device | None = None, on_event: Callable[[WorkerEvent], None] | None = None):
    """A started worker with ``task`` set, stopped on exit (for scripts and tests)."""
    worker = InferenceWorker(on_result, on_event, device=device)
    worker.start()
    worker.set_task(task)
    try:
        yield worker
    finally:
        worker.stop()
