"""Engine callbacks (capture and worker threads) -> Qt signals on the GUI thread.

Frames and results are *coalesced*: whatever thread produces them, at most one delivery is
pending in the GUI event queue and it always carries the newest item. A slow GUI therefore
skips frames instead of queueing them (queued frames are latency). Events — rare, and each
one matters — are forwarded one by one.

``LivePipeline`` owns the running source and the inference worker and wires them:

    capture thread --frame--> LatestDelivery --> frame_ready(Frame)      (GUI, camera rate)
                   \\--submit--> InferenceWorker --result--> LatestDelivery --> result_ready
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from engine.runtime.mailbox import Mailbox

if TYPE_CHECKING:
    import torch

    from engine.io.base import FrameSource
    from engine.runtime.worker import InferenceWorker, Task

log = logging.getLogger(__name__)


class LatestDelivery(QObject):
    """Hand the newest item from any thread to the GUI thread, never more than one pending.

    ``put(item)`` may be called from any thread; ``delivered(item)`` is emitted on the
    thread this object lives in (the GUI thread) with the newest item. Items replaced
    before delivery are counted in ``dropped``.
    """

    delivered = Signal(object)
    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._box: Mailbox[Any] = Mailbox()
        self._lock = threading.Lock()
        self._pending = False
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def put(self, item: Any) -> None:
        self._box.put(item)
        with self._lock:
            if self._pending:
                return  # a wake-up is already queued; it will pick up this newer item
            self._pending = True
        self._wake.emit()

    @property
    def dropped(self) -> int:
        return self._box.dropped

    @Slot()
    def _drain(self) -> None:
        with self._lock:
            self._pending = False
        item = self._box.take(timeout=0)
        if item is not None:
            self.delivered.emit(item)


class EventForwarder(QObject):
    """Forward every engine event (source or worker) to the GUI thread, in order."""

    event = Signal(object, object)  # (origin, event): origin tells stale sources apart
    _relay = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relay.connect(self.event, Qt.ConnectionType.QueuedConnection)

    def forward(self, origin: object, event: object) -> None:
        self._relay.emit(origin, event)


@dataclass(frozen=True)
class PipelineStats:
    """A snapshot for the status bar and the performance plot.

    capture_fps: frames/s delivered by the source. inference_fps: results/s of the worker
    over the last ~2 s. latency_ms: median end-to-end latency (capture -> result) over the last ~2 s,
    None without results. dropped: frames of the current source the worker skipped
    because it was busy (it starts from 0 with each source).
    """

    capture_fps: float
    inference_fps: float
    latency_ms: float | None
    dropped: int


class LivePipeline(QObject):
    """The running source plus the inference worker, with Qt signals for the GUI.

    Signals (GUI thread):
        frame_ready(Frame): the newest captured frame, at most one pending (only while
            ``frames_wanted``; ``latest_frame`` is always the newest).
        result_ready(TaskResult): the newest result of the current task.
        source_event(SourceEvent): events of the current source only.
        worker_event(WorkerEvent): loading/ready/errors of the worker.
    """

    frame_ready = Signal(object)
    result_ready = Signal(object)
    source_event = Signal(object)
    worker_event = Signal(object)

    STATS_WINDOW_S = 2.0

    def __init__(self, device: "torch.device | None" = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.device = device
        self.source: FrameSource | None = None
        self.mirror = False
        self._unsubscribe = None
        self._frames = LatestDelivery(self)
        self._results = LatestDelivery(self)
        self._events = EventForwarder(self)
        self._frames.delivered.connect(self.frame_ready)
        self._results.delivered.connect(self._on_result)
        self._events.event.connect(self._on_event)
        self._worker: InferenceWorker | None = None
        self._task: Task | None = None
        self._generation = 0  # of the current task: the one place where stale results are dropped
        self._result_log: deque[tuple[float, float]] = deque(maxlen=600)  # (arrival, latency_ms)
        self._dropped_base = 0  # the worker's dropped count when the current source started
        # The newest captured frame (set on the capture thread; reading it is atomic).
        self.latest_frame: Any | None = None
        # False: frames are not handed to the GUI thread (it would not show them: in Synced
        # mode each result brings its own frame). Saves the GUI thread ~30 wake-ups a second
        # that the inference thread pays for in interpreter-lock waits.
        self.frames_wanted = True

    # -- source ----------------------------------------------------------------------
    def open(self, spec: str) -> "FrameSource":
        """Stop the current source and start the one named by ``spec``.

        Raises ``engine.core.errors.SourceError`` (with a message naming ``spec``) when it cannot
        be opened; the previous source then keeps playing.
        """
        from engine.io import classify, open_source

        # Videos loop in the GUI: a live view that freezes on the last frame looks broken.
        options = {"loop": True} if classify(spec) == "video" else {}
        return self.attach(open_source(spec, **options))

    def attach(self, source: "FrameSource") -> "FrameSource":
        """Start ``source`` (already constructed), then stop the current one in its favour.

        The new source is started first: when it fails (a camera that cannot be opened,
        an unreadable video) the exception propagates and the playing source plays on.
        """
        source.mirror = self.mirror
        source.on_event(lambda event, origin=source: self._events.forward(origin, event))
        unsubscribe = source.subscribe(self._on_frame)
        try:
            source.start()
        except Exception:
            unsubscribe()
            raise
        self.stop_source()
        self._unsubscribe = unsubscribe
        self.source = source
        self._dropped_base = self.worker_dropped()  # "dropped" counts this source's frames
        return source

    def stop_source(self) -> None:
        """Stop and forget the current source (joins its capture thread)."""
        source, self.source = self.source, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if source is not None:
            source.stop()

    @property
    def running(self) -> bool:
        return self.source is not None and self.source.running

    def set_mirror(self, mirror: bool) -> None:
        """Flip frames left-right at capture, so models, overlays and snapshots agree."""
        self.mirror = bool(mirror)
        if self.source is not None:
            self.source.mirror = self.mirror

    def _on_frame(self, frame: Any) -> None:  # capture thread: hand over only
        self.latest_frame = frame
        if self.frames_wanted:
            self._frames.put(frame)
        worker = self._worker
        if worker is not None and self._task is not None:
            worker.submit(frame)

    # -- worker ----------------------------------------------------------------------
    def set_task(self, task: "Task | None") -> None:
        """Run ``task`` on every new frame (None: run nothing). Starts the worker on first use."""
        if task is not None and self._worker is None:
            from engine.runtime.worker import InferenceWorker

            worker = InferenceWorker(
                on_result=self._results.put,
                on_event=lambda event: self._events.forward(self, event),
                device=self.device,
                name="live",
                threads="gui",  # sized on the worker thread for what else runs (engine.runtime.threads)
            )
            worker.start()
            self._worker = worker
        self._task = task
        if self._worker is not None:
            self._generation = self._worker.set_task(task)
        self._result_log.clear()

    def update_settings(self, settings: Any) -> None:
        """Hand a new settings snapshot to the running task (applied on the worker thread)."""
        if self._worker is not None and self._task is not None:
            self._worker.update(settings)

    @property
    def task(self) -> "Task | None":
        return self._task

    @Slot(object)
    def _on_result(self, result: Any) -> None:
        if self._task is None or result.generation != self._generation:
            return  # a late result of a task that was swapped out
        timings = getattr(result, "timings", None)
        latency = float(getattr(timings, "latency_ms", 0.0) or 0.0)
        self._result_log.append((time.monotonic(), latency))
        self.result_ready.emit(result)

    @Slot(object, object)
    def _on_event(self, origin: object, event: object) -> None:
        if origin is self:
            generation = getattr(event, "generation", 0)
            if generation and generation != self._generation:
                return  # about a task that was swapped out since
            self.worker_event.emit(event)
        elif origin is self.source:
            self.source_event.emit(event)

    # -- numbers ---------------------------------------------------------------------
    def stats(self) -> PipelineStats:
        now = time.monotonic()
        recent = [lat for t, lat in self._result_log if now - t <= self.STATS_WINDOW_S]
        latency = sorted(recent)[len(recent) // 2] if recent else None
        capture = self.source.measured_fps if self.source is not None and self.source.running else 0.0
        # Counted at the worker: the GUI may skip results (coalescing) when it is busy.
        inference = self._worker.stats.fps if self._worker is not None and self._task is not None and recent else 0.0
        return PipelineStats(capture, inference, latency, max(0, self.worker_dropped() - self._dropped_base))

    def worker_dropped(self) -> int:
        """Frames the worker skipped (latest-frame-wins) since it started."""
        if self._worker is None:
            return 0
        stats = self._worker.stats
        for name in ("dropped", "frames_dropped", "dropped_frames"):
            value = getattr(stats, name, None)
            if value is not None:
                return int(value)
        return 0

    def shutdown(self) -> None:
        """Stop the source and the worker (the worker closes its task in its own thread)."""
        self.stop_source()
        worker, self._worker = self._worker, None
        self._task = None
        if worker is not None:
            worker.stop()
