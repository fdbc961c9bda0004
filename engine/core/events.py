"""Typed events for the Qt-free controllers: one way for a controller to tell its view.

A controller declares its events as class attributes; each instance gets its own
:class:`Event` the first time the attribute is read::

    class CounterController(Controller):
        count_changed = EventField[int]("the count after a change")

        def add(self) -> None:
            self.count += 1
            self.count_changed.emit(self.count)

    controller.count_changed.connect(print)      # returns a function that disconnects

Threading rule: ``emit`` is synchronous; every listener runs on the thread that called
``emit``, in the order the listeners were connected, before ``emit`` returns. Nothing here
knows about an event loop: the GUI connects through ``gui.common.events.connect_event``,
which calls its slot directly when the event fires on the GUI thread and re-posts it to
the GUI thread (a queued Qt call) when a worker thread fires it. Connecting and
disconnecting are safe from any thread; a listener disconnected before ``emit`` reaches
it is not called, even by an ``emit`` already running on another thread.

A listener that raises does not stop the others: the exception is logged (with its
traceback, on this module's logger) and ``emit`` goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast, overload

log = logging.getLogger(__name__)

T = TypeVar("T")

Listener = Callable[[T], object]


class _Connection:
    """One listener of one event; ``active`` goes False for good when it is disconnected."""

    __slots__ = ("callback", "active")

    def __init__(self, callback: Callable[[Any], object]) -> None:
        self.callback = callback
        self.active = True


class Event(Generic[T]):
    """A list of listeners called with one value of type ``T`` (``None`` for a bare signal).

    ``name`` only appears in log messages ("DetectController.status").
    """

    def __init__(self, name: str = "event") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._connections: tuple[_Connection, ...] = ()

    def connect(self, callback: Callable[[T], object]) -> Callable[[], None]:
        """Call ``callback(value)`` on every ``emit``; returns a function that disconnects it.

        The same callable connected twice is called twice (each connection disconnects
        on its own).
        """
        if not callable(callback):
            raise TypeError(f"{self.name}: a listener must be callable, got {type(callback).__name__}")
        connection = _Connection(callback)
        with self._lock:
            self._connections = self._connections + (connection,)

        def disconnect() -> None:
            self._remove(connection)

        return disconnect

    def disconnect(self, callback: Callable[[T], object]) -> bool:
        """Disconnect every connection of ``callback``; False when it was not connected."""
        with self._lock:
            found = [c for c in self._connections if c.callback == callback]
        for connection in found:
            self._remove(connection)
        return bool(found)

    def disconnect_all(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, ()
        for connection in connections:
            connection.active = False

    def _remove(self, connection: _Connection) -> None:
        with self._lock:
            connection.active = False
            self._connections = tuple(c for c in self._connections if c is not connection)

    def emit(self, value: T = None) -> None:  # type: ignore[assignment]  # None for Event[None]
        """Call every listener with ``value`` now, on this thread (see the module docstring)."""
        for connection in self._connections:  # a tuple: connects during emit wait for the next one
            if not connection.active:
                continue
            try:
                connection.callback(value)
            except Exception:  # noqa: BLE001 - one broken view must not silence the others
                log.exception("a listener of %s failed (%r)", self.name, connection.callback)

    def __len__(self) -> int:
        """How many listeners are connected."""
        return len(self._connections)

    def __repr__(self) -> str:
        return f"<Event {self.name}: {len(self)} listener(s)>"


class EventField(Generic[T]):
    """Declares an event on a :class:`Controller` subclass; each instance gets its own :class:`Event`.

    ``doc`` says when the event fires and what its value is. Assigning to the attribute is
    an error (listeners connect; they do not replace the event).
    """

    def __init__(self, doc: str = "") -> None:
        self.doc = doc
        self.name = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner_name = owner.__name__

    @overload
    def __get__(self, instance: None, owner: type) -> "EventField[T]": ...

    @overload
    def __get__(self, instance: object, owner: type) -> Event[T]: ...

    def __get__(self, instance: object | None, owner: type) -> "EventField[T] | Event[T]":
        if instance is None:
            return self
        events = instance.__dict__
        event = events.get(self.name)
        if event is None:
            # setdefault: two threads reading the attribute first at once share one Event.
            event = events.setdefault(self.name, Event(f"{type(instance).__name__}.{self.name}"))
        return cast("Event[T]", event)

    def __set__(self, instance: object, value: object) -> None:
        raise AttributeError(f"{type(instance).__name__}.{self.name} is an event: connect to it "
                             f"(.connect(callback)) instead of assigning it")


class Controller:
    """Base of every feature controller (the Qt-free state behind a tab).

    The three events every view listens to; subclasses add their own ``EventField``s.
    """

    task_changed = EventField[None]("the live task must be rebuilt (another model, weights or project): "
                                    "the view asks make_task() again")
    settings_changed = EventField[None]("a live setting changed: the view hands the new frozen snapshot to the worker")
    status = EventField[str]("a short line for the status bar (a hint, or why a command was refused)")

    @classmethod
    def event_names(cls) -> tuple[str, ...]:
        """The names of the events this class declares (its own and inherited), sorted."""
        return tuple(sorted({name for klass in cls.__mro__ for name, value in vars(klass).items()
                             if isinstance(value, EventField)}))

    def events_by_name(self) -> dict[str, Event[Any]]:
        """name -> this instance's Event, for every declared event."""
        return {name: getattr(self, name) for name in self.event_names()}

    def close(self) -> None:
        """Disconnect every listener of every event (the view is going away)."""
        for event in self.events_by_name().values():
            event.disconnect_all()
