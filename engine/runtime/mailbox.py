"""Latest-item-wins hand-off between threads.

A camera produces frames at its own rate; a model consumes them at its own. A queue
between them grows whenever the model is slower, and every queued frame is latency the
user sees. The mailbox holds at most one item: a new ``put`` replaces the held one (and
counts it as dropped), and ``take`` always returns the newest.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """A one-slot, thread-safe box where the newest item always wins."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.put_count = 0
        self.taken = 0
        self.dropped = 0
        self._waiting = 0

    def put(self, item: T) -> None:
        """Hand over ``item``, replacing (and counting as dropped) any item not yet taken."""
        with self._cond:
            if self._closed:
                return
            if self._full:
                self.dropped += 1
            self._item = item
            self._full = True
            self.put_count += 1
            self._cond.notify()

    def take(self, timeout: float | None = None) -> T | None:
        """Return the newest item and empty the box.

        Waits up to ``timeout`` seconds (forever when None) for an item; returns None on
        time-out or once the box is closed.
        """
        with self._cond:
            if not self._full and not self._closed:
                self._waiting += 1
                try:
                    self._cond.wait_for(lambda: self._full or self._closed, timeout)
                finally:
                    self._waiting -= 1
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self.taken += 1
            return item

    def close(self) -> None:
        """Wake every waiter; later puts are ignored and takes return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def full(self) -> bool:
        """True while an item waits to be taken (the item itself may be None)."""
        return self._full

    @property
    def waiting(self) -> int:
        """How many threads are blocked in ``take`` right now."""
        return self._waiting

    @property
    def closed(self) -> bool:
        return self._closed
