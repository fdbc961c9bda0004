"""The synchronous runner: a ``Task`` over a sequence of frames, on the caller's thread.

``run_task`` is what the CLI, scripts and tests use to run a live task without the
worker thread. Each frame goes through the very step the ``InferenceWorker`` runs
(``engine.runtime.worker.run_frame``), so a result here equals the worker's result on the same
frame: same ``TaskResult`` fields, same ``Timings`` (milliseconds; latency measured from
``frame.timestamp``, time.monotonic seconds), same settings snapshot, and generation 1,
the generation a worker gives the first task it is handed. Unlike the worker it never
drops a frame: every frame is processed, in order.

Errors:
- ``task.load`` or ``task.configure(settings)`` raising propagates (before any frame);
- a frame that raises: without ``on_error`` the task's exception propagates unchanged
  (the task is closed first; a note names the task and frame, as the worker's message
  does); with ``on_error`` the runner calls it with the same ``WorkerEvent`` the worker
  reports (kind "frame_error", message "<task> failed on frame <i>: <Type>: <text>"),
  yields nothing for that frame and goes on with the next, as the worker does.
- Errors of the ``frames`` iterable itself (an unreadable video) always propagate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from engine.core.frame import Frame
from engine.runtime.device import choose_device
from engine.runtime.worker import Task, TaskResult, WorkerEvent, frame_error_event, run_frame

log = logging.getLogger(__name__)

#: The generation of results from ``run_task``: a worker's first ``set_task`` gives 1.
GENERATION = 1


def run_task(task: Task, frames: Iterable[Frame], *, device: str | torch.device | None = None,
             settings: Any = None, on_result: Callable[[TaskResult], None] | None = None,
             on_error: Callable[[WorkerEvent], None] | None = None, load: bool = True) -> Iterator[TaskResult]:
    """Run ``task`` on every frame of ``frames``; yield one ``TaskResult`` per frame, in order.

    device: as ``engine.runtime.device.choose_device`` takes it (None/"auto": cuda > mps > cpu,
    or ``$CNN_STUDIO_DEVICE``); a ``torch.device`` is used as given. settings: a snapshot
    handed to ``task.configure`` after loading (None: the task keeps its own). on_result:
    also called with each result, just before it is yielded. on_error: see the module
    doc. load: False when ``task`` is loaded already (a caller driving one task a frame at
    a time); the runner then neither loads nor closes it. With load=True the task is
    loaded before the first frame and closed when the iteration ends, fails or is closed.

    The generator is lazy: nothing is loaded before the first ``next``.
    """
    where = device if isinstance(device, torch.device) else choose_device(device)
    if load:
        task.load(where)
    try:
        if settings is not None:
            task.configure(settings)
        for frame in frames:
            try:
                result = run_frame(task, frame, where, GENERATION)
            except Exception as exc:
                event = frame_error_event(task, frame, exc, GENERATION)
                if on_error is None:
                    exc.add_note(event.message)
                    raise
                log.debug("frame %d failed in %s", frame.index, task.name, exc_info=True)
                on_error(event)
                continue
            if on_result is not None:
                on_result(result)
            yield result
    finally:
        if load:
            try:
                task.close()
            except Exception:
                log.exception("closing task %s failed", task.name)
