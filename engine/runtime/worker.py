"""The inference runtime: a worker thread that owns one task (model + device) at a time.

Frames arrive through a latest-frame-wins ``Mailbox``, so a slow model never builds a
backlog: it always works on the newest frame and the rest are counted as dropped.
Results leave as plain data through a callback; the GUI adapts it to a Qt signal.

The per-frame step (``run_frame``: grad mode, the three timed steps, the ``TaskResult``)
is one function shared with the synchronous runner (``engine.runtime.sync.run_task``), so
the worker, the CLI and the tests compute a frame the same way.

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

from engine.core.frame import Frame
from engine.runtime.device import choose_device
from engine.runtime.mailbox import Mailbox

log = logging.getLogger(__name__)


class Task:
    """What runs on each live frame. Subclass and override the four steps.

    ``load`` is called once, inside the worker thread, before the first frame: build
    the model there, move it to ``device`` and warm it up, so the GUI never waits on
    it. The worker times ``preprocess``, ``infer`` and ``postprocess`` separately.
    ``postprocess`` returns plain data (ideally a frozen dataclass of numpy arrays).

    Live settings (thresholds, a chosen layer, a mode) form one immutable snapshot,
    ``settings`` (a frozen dataclass, or None for a task without any). The GUI never
    writes to a running task: it hands a whole new snapshot to ``InferenceWorker.update``
    and the worker calls ``configure`` with it *on the worker thread, between frames*, so a
    frame is always computed with one snapshot from start to end. Override ``configure``
    when a change needs model work (style statistics, a re-hooked layer); it runs where
    the model lives.

    ``needs_grad``: run under torch.enable_grad() instead of inference mode. It is read
    once per frame, after ``configure``, so a property derived from ``settings`` is safe.

    ``status``: what the user should know about the running task beyond its name, e.g. a
    detector's "bf16, compiling…" ("" for nothing). The worker reads it after ``load``
    (the "ready" event names it) and again after every frame and every idle wait (0.1 s);
    when it changed, a "status" event says so, e.g. when a background compile ended.
    Keep it cheap: a few attribute reads.
    """

    name: str = "task"
    needs_grad: bool = False
    settings: Any = None
    status: str = ""

    def configure(self, settings: Any) -> None:
        """Apply a new settings snapshot (worker thread, between frames)."""
        self.settings = settings

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
    """One processed frame: which task, the frame it saw, its plain-data result, timings.

    ``generation`` identifies the ``set_task`` call that installed the task (a task swap
    always gets a new one, even when the new task has the same name); ``settings`` is the
    snapshot the frame was computed with.
    """

    task: str
    frame: Frame
    result: Any
    timings: Timings
    generation: int = 0
    settings: Any = None


@dataclass(frozen=True)
class WorkerEvent:
    """A change the user should hear about.

    kind: "loading", "ready", "status" (the task's ``status`` changed while it ran),
    "frame_error", "load_error", "settings_error" or "stopped".
    ``generation`` is the generation of the task concerned (0 for none). ``status``: on
    "ready" and "status" events, the task's ``status`` then ("fp32, compiled"; "" when the
    task has none), for a view that keeps showing it after the message has gone.
    """

    kind: str
    task: str
    message: str = ""
    error: BaseException | None = None
    generation: int = 0
    status: str = ""


@dataclass(frozen=True)
class WorkerStats:
    """Counters of a worker; fps is measured over the last ~2 seconds of results."""

    submitted: int
    processed: int
    dropped: int
    errors: int
    fps: float
    last_timings: Timings | None


def run_frame(task: Task, frame: Frame, device: torch.device, generation: int = 0) -> TaskResult:
    """One frame through ``task``: the per-frame step of the worker and of ``run_task``.

    Reads the task's settings snapshot, runs preprocess -> infer -> postprocess under
    ``torch.inference_mode()`` (``torch.enable_grad()`` when ``task.needs_grad``), times
    each step in milliseconds (on CUDA after a synchronize, so kernel time is not billed
    to postprocess) and returns the ``TaskResult`` with ``generation``. Whatever the task
    raises propagates unchanged; callers report it with ``frame_error_event``.
    """
    settings = task.settings  # the snapshot of this frame: configure() runs only between frames
    grad_mode = torch.enable_grad() if task.needs_grad else torch.inference_mode()
    started = time.monotonic()
    with grad_mode:
        inputs = task.preprocess(frame)
        t1 = time.monotonic()
        outputs = task.infer(inputs)
        if device.type == "cuda":
            # Kernels are asynchronous: without this the time would land in postprocess.
            torch.cuda.synchronize(device)
        t2 = time.monotonic()
        result = task.postprocess(outputs, frame)
        t3 = time.monotonic()
    timings = Timings(
        capture_age_ms=(started - frame.timestamp) * 1000.0,
        preprocess_ms=(t1 - started) * 1000.0,
        inference_ms=(t2 - t1) * 1000.0,
        postprocess_ms=(t3 - t2) * 1000.0,
        total_ms=(t3 - started) * 1000.0,
        latency_ms=(t3 - frame.timestamp) * 1000.0,
    )
    return TaskResult(task.name, frame, result, timings, generation, settings)


def frame_error_event(task: Task, frame: Frame, error: BaseException, generation: int = 0) -> WorkerEvent:
    """The "frame_error" event for ``error`` raised by ``task`` on ``frame`` (names the exception type)."""
    message = f"{task.name} failed on frame {frame.index}: {type(error).__name__}: {error}"
    return WorkerEvent("frame_error", task.name, message, error, generation)


class InferenceWorker:
    """One thread that owns a task and runs it on the newest submitted frame.

    on_result(TaskResult) and on_event(WorkerEvent) are called on the worker thread.
    ``set_task`` swaps the task while frames keep flowing: the new task is loaded and
    the old one closed inside the worker thread, so models never cross threads. Each
    ``set_task`` returns a new *generation* id that every later result and event carries;
    consumers drop whatever carries an older one.

    The worker can be stopped and started again: ``start`` after ``stop`` opens fresh
    mailboxes and a fresh thread (the task, if any, is loaded again in it).

    ``threads``: a thread-budget situation ("gui", "cli"; see ``engine.runtime.threads``) for the
    worker to size torch's intra-op threads by, on its own thread (with OpenMP a count set
    elsewhere does not reach it), re-planned every few seconds from the load other
    processes put on the machine; None leaves torch's setting alone.
    """

    GOVERN_EVERY_S = 3.0

    def __init__(
        self,
        on_result: Callable[[TaskResult], None],
        on_event: Callable[[WorkerEvent], None] | None = None,
        device: str | torch.device | None = None,
        name: str = "worker",
        threads: str | None = None,
    ) -> None:
        self.on_result = on_result
        self.threads = threads
        self.on_event = on_event
        self.device = device if isinstance(device, torch.device) else choose_device(device)
        self.name = name
        self._lock = threading.Lock()
        self._generation = 0
        # What the next swap installs: (generation, task); the task the caller wants now.
        self._wanted: tuple[int, Task | None] = (0, None)
        self._frames: Mailbox[Frame] = Mailbox()
        self._control = threading.Event()  # a swap or a settings update is waiting
        self._pending_task: tuple[int, Task | None] | None = None
        self._pending_settings: tuple[int, Any] | None = None
        self._task: Task | None = None
        self._task_generation = 0
        self._status = ""  # the running task's status as last reported
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._processed = 0
        self._errors = 0
        self._submitted_before = 0
        self._dropped_before = 0
        self._result_times: deque[float] = deque(maxlen=240)
        self._last_timings: Timings | None = None
        self._last_governed = 0.0

    # -- control (any thread) ----------------------------------------------------------
    def start(self) -> None:
        """Start the thread (again, after ``stop``); the wanted task is loaded in it."""
        with self._lock:
            if self._thread is not None:
                return
            self._submitted_before += self._frames.put_count
            self._dropped_before += self._frames.dropped
            self._frames = Mailbox()
            self._stop = threading.Event()
            generation, task = self._wanted
            if task is not None and self._pending_task is None:
                self._pending_task = (generation, task)
                self._control.set()
            self._thread = threading.Thread(target=self._run, args=(self._stop, self._frames),
                                            name=f"inference:{self.name}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the frame in hand; the current task is closed in it.

        The task stays *wanted*: a later ``start`` loads it again.
        """
        with self._lock:
            self._stop.set()
            self._frames.close()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.1f s", self.name, timeout)

    def set_task(self, task: Task | None) -> int:
        """Replace the running task (None: idle) before the next frame; returns its generation."""
        with self._lock:
            self._generation += 1
            self._wanted = (self._generation, task)
            self._pending_task = self._wanted
            self._pending_settings = None  # settings meant for the old task must not reach the new one
            self._control.set()
            return self._generation

    def update(self, settings: Any) -> None:
        """Hand a new settings snapshot to the current task (applied before its next frame)."""
        with self._lock:
            self._pending_settings = (self._generation, settings)
            self._control.set()

    def submit(self, frame: Frame) -> None:
        """Offer a frame; an older one not yet started is dropped."""
        self._frames.put(frame)

    @property
    def generation(self) -> int:
        """The generation of the task most recently asked for with ``set_task``."""
        return self._generation

    @property
    def task(self) -> Task | None:
        return self._task

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self) -> WorkerStats:
        times = list(self._result_times)
        now = time.monotonic()
        recent = [t for t in times if now - t <= 2.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
        return WorkerStats(
            submitted=self._submitted_before + self._frames.put_count,
            processed=self._processed,
            dropped=self._dropped_before + self._frames.dropped,
            errors=self._errors,
            fps=fps,
            last_timings=self._last_timings,
        )

    # -- worker thread ---------------------------------------------------------------
    def _emit(self, kind: str, task: Task | None, message: str = "", error: BaseException | None = None,
              generation: int | None = None, status: str = "") -> None:
        gen = self._task_generation if generation is None else generation
        self._report(WorkerEvent(kind, task.name if task else "", message, error, gen, status))

    def _report(self, event: WorkerEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            log.exception("worker event callback failed")

    def _close_task(self) -> None:
        old, self._task = self._task, None
        if old is not None:
            try:
                old.close()
            except Exception:
                log.exception("closing task %s failed", old.name)

    def _apply_control(self) -> None:
        """Swap the task and apply settings that were asked for (worker thread)."""
        if not self._control.is_set():
            return
        with self._lock:
            self._control.clear()
            pending_task, self._pending_task = self._pending_task, None
            pending_settings, self._pending_settings = self._pending_settings, None
        if pending_task is not None:
            generation, new_task = pending_task
            self._close_task()
            self._task_generation = generation
            if new_task is not None:
                self._load(new_task, generation)
        if pending_settings is not None and self._task is not None:
            generation, settings = pending_settings
            if generation == self._task_generation:
                try:
                    self._task.configure(settings)
                except Exception as exc:  # noqa: BLE001 - reported; the task keeps its old settings
                    log.debug("configuring %s failed", self._task.name, exc_info=True)
                    self._emit("settings_error", self._task, f"{self._task.name}: the new settings could not be applied: {type(exc).__name__}: {exc}", exc)

    def _load(self, task: Task, generation: int) -> None:
        self._emit("loading", task, f"loading {task.name} on {self.device}", generation=generation)
        try:
            task.load(self.device)
        except Exception as exc:  # noqa: BLE001 - reported to the user, the worker survives
            log.debug("loading %s failed", task.name, exc_info=True)
            self._emit("load_error", task, f"{task.name} could not be loaded: {type(exc).__name__}: {exc}", exc, generation)
            return
        self._task = task
        self._status = self._read_status(task)
        self._emit("ready", task, f"{self._describe(task)} ready on {self.device}", generation=generation,
                   status=self._status)

    def _describe(self, task: Task) -> str:
        """"detect:yolov4-tiny in bf16, compiling…": the task's name with its status, if any."""
        return f"{task.name} in {self._status}" if self._status else task.name

    @staticmethod
    def _read_status(task: Task) -> str:
        try:
            return str(task.status or "")
        except Exception:  # noqa: BLE001 - a status is a courtesy; it must not stop the stream
            log.debug("reading the status of %s failed", task.name, exc_info=True)
            return ""

    def _check_status(self) -> None:
        """Report a change of the running task's ``status`` (worker thread)."""
        task = self._task
        if task is None:
            return
        status = self._read_status(task)
        if status != self._status:
            self._status = status
            self._emit("status", task, f"{self._describe(task)} on {self.device}", status=status)

    def _govern_threads(self, governor: Any) -> None:
        if governor is None:
            return
        now = time.monotonic()
        if now - self._last_governed < self.GOVERN_EVERY_S:
            return
        self._last_governed = now
        count = governor.update()
        if governor.changed:
            torch.set_num_threads(count)
            log.info("%s: %d intra-op threads (%s)", self.name, count, governor.plan.reason)

    def _make_governor(self) -> Any:
        if self.threads is None or self.device.type != "cpu":
            return None
        from engine.runtime.threads import ThreadGovernor

        governor = ThreadGovernor(self.threads)
        torch.set_num_threads(governor.threads)
        self._last_governed = time.monotonic()
        return governor

    def _run(self, stop: threading.Event, frames: Mailbox[Frame]) -> None:
        governor = self._make_governor()
        try:
            while not stop.is_set():
                self._govern_threads(governor)
                self._apply_control()
                frame = frames.take(timeout=0.1)
                if frame is None:
                    if frames.closed:
                        break
                    self._check_status()  # a paused source still hears that a compile ended
                    continue
                if stop.is_set():
                    break
                self._apply_control()  # a swap or update asked for while we waited applies to this frame
                task = self._task
                if task is None:
                    continue
                self._process(task, frame)
                self._check_status()
        finally:
            task = self._task
            self._close_task()
            self._emit("stopped", task)

    def _process(self, task: Task, frame: Frame) -> None:
        try:
            result = run_frame(task, frame, self.device, self._task_generation)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the stream
            self._errors += 1
            log.debug("frame %d failed in %s", frame.index, task.name, exc_info=True)
            self._report(frame_error_event(task, frame, exc, self._task_generation))
            return
        self._processed += 1
        self._result_times.append(time.monotonic())
        self._last_timings = result.timings
        try:
            self.on_result(result)
        except Exception:
            log.exception("result callback failed")


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
