"""What a live worker reports, gathered for tests: results and events, with a wait."""

from __future__ import annotations

import threading

from engine.runtime.worker import TaskResult, WorkerEvent


class Collector:
    """``on_result``/``on_event`` callbacks for an InferenceWorker (called on its thread)."""

    def __init__(self) -> None:
        self.results: list[TaskResult] = []
        self.events: list[WorkerEvent] = []
        self.cond = threading.Condition()

    def on_result(self, result: TaskResult) -> None:
        with self.cond:
            self.results.append(result)
            self.cond.notify_all()

    def on_event(self, event: WorkerEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 30.0) -> bool:
        """Whether ``predicate(self)`` became true within ``timeout`` seconds (returns as soon as it does)."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)
