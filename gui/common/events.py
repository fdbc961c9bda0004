"""The one bridge from engine events (``engine.core.events.Event``) to Qt.

``connect_event(event, receiver, slot)`` makes ``slot(value)`` run on ``receiver``'s
thread (the GUI thread for a widget) every time ``event`` fires:

- fired on that thread (a controller command run by a click): ``slot`` runs at once,
  inside ``emit``, exactly as a direct call would, so the view is up to date when the
  command returns;
- fired on another thread (a job or worker thread): the value is re-posted as a queued
  Qt call and ``slot`` runs later on the receiver's thread, in the order of the emits.

The connection ends when the returned function is called or when ``receiver`` is
destroyed, whichever comes first; the engine event never keeps a dead widget alive.
An exception in ``slot`` is logged and does not stop the event's other listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine.core.events import Event

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Relay(QObject):
    """A child of the receiver that carries values of one engine event to its thread."""

    posted = Signal(object)

    def __init__(self, receiver: QObject, slot: Callable[[Any], object], name: str) -> None:
        super().__init__(receiver)
        self.setObjectName(f"eventRelay:{name}")
        self.slot = slot
        self.alive = True
        self.posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _deliver(self, value: object) -> None:
        if not self.alive:  # disconnected while the value was queued
            return
        try:
            self.slot(value)
        except Exception:  # noqa: BLE001 - the same rule as Event.emit
            log.exception("%s failed on a queued value", self.objectName())


def connect_event(event: Event[T], receiver: QObject, slot: Callable[[T], object]) -> Callable[[], None]:
    """Call ``slot(value)`` on ``receiver``'s thread for every ``event.emit(value)``.

    Returns a function that disconnects (safe to call more than once, and after the
    receiver is gone).
    """
    relay = _Relay(receiver, slot, event.name)
    state = {"relay": relay}  # dropped when the relay dies, so no call reaches a deleted object

    def on_emit(value: T) -> None:
        current = state.get("relay")
        if current is None:
            return
        try:
            if QThread.currentThread() is current.thread():
                if current.alive:
                    slot(value)  # exceptions go to Event.emit, which logs them
            else:
                current.posted.emit(value)
        except RuntimeError:  # the receiver was deleted between the check and the call
            log.debug("%s: receiver gone", event.name)

    disconnect_engine = event.connect(on_emit)

    def disconnect() -> None:
        disconnect_engine()
        current = state.pop("relay", None)
        if current is not None:
            current.alive = False
            try:
                current.deleteLater()
            except RuntimeError:  # already deleted with its receiver
                pass

    def receiver_gone() -> None:
        disconnect_engine()
        relay_now = state.pop("relay", None)
        if relay_now is not None:
            relay_now.alive = False

    relay.destroyed.connect(lambda *_: receiver_gone())
    return disconnect
