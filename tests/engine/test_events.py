"""engine.core.events: typed events, the Controller base and its threading rule (no Qt here)."""

from __future__ import annotations

import logging
import threading

import pytest

from engine.core.events import Controller, Event, EventField


class Counter(Controller):
    count_changed = EventField[int]("the count after a change")

    def __init__(self) -> None:
        self.count = 0

    def add(self) -> None:
        self.count += 1
        self.count_changed.emit(self.count)


def test_connect_emit_and_disconnect_in_connection_order():
    event: Event[int] = Event("numbers")
    seen = []
    first = event.connect(lambda v: seen.append(("first", v)))
    event.connect(lambda v: seen.append(("second", v)))
    event.emit(1)
    first()
    first()  # disconnecting twice is harmless
    event.emit(2)
    assert seen == [("first", 1), ("second", 1), ("second", 2)]
    assert len(event) == 1
    with pytest.raises(TypeError, match="must be callable"):
        event.connect(42)  # type: ignore[arg-type]


def test_disconnect_by_callback_and_a_listener_removed_during_emit_is_not_called():
    event: Event[None] = Event("bare")
    seen = []

    def late(_none):
        seen.append("late")

    def early(_none):
        seen.append("early")
        event.disconnect(late)  # e.g. a view closing while the event is going round

    event.connect(early)
    event.connect(late)
    event.emit()
    assert seen == ["early"] and len(event) == 1
    assert not event.disconnect(late)


def test_a_failing_listener_is_logged_and_the_others_still_run(caplog):
    event: Event[str] = Event("Demo.status")
    seen = []
    event.connect(seen.append)
    event.connect(lambda text: 1 / 0)
    event.connect(lambda text: seen.append(text.upper()))
    with caplog.at_level(logging.ERROR, logger="engine.core.events"):
        event.emit("hello")
    assert seen == ["hello", "HELLO"]
    failures = [r for r in caplog.records if "Demo.status" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info[0] is ZeroDivisionError


def test_emit_runs_the_listeners_on_the_emitting_thread_before_it_returns():
    event: Event[int] = Event("threads")
    ran_on = []
    event.connect(lambda v: ran_on.append((v, threading.get_ident())))
    worker_ident = []

    def work():
        worker_ident.append(threading.get_ident())
        event.emit(7)
        worker_ident.append(len(ran_on))  # already called when emit returned

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    assert ran_on == [(7, worker_ident[0])] and worker_ident[1] == 1


def test_each_controller_has_its_own_events_and_close_disconnects_them():
    a, b = Counter(), Counter()
    assert a.count_changed is a.count_changed and a.count_changed is not b.count_changed
    seen = []
    a.count_changed.connect(seen.append)
    a.status.connect(seen.append)
    b.add()
    a.add()
    a.status.emit("ok")
    assert seen == [1, "ok"]
    assert Counter.event_names() == ("count_changed", "settings_changed", "status", "task_changed")
    assert set(a.events_by_name()) == set(Counter.event_names())
    a.close()
    a.add()
    a.status.emit("after close")
    assert seen == [1, "ok"] and all(len(e) == 0 for e in a.events_by_name().values())


def test_an_event_cannot_be_replaced_by_assignment():
    counter = Counter()
    with pytest.raises(AttributeError, match="connect to it"):
        counter.count_changed = lambda value: None  # the old callback-attribute style
    assert isinstance(Counter.count_changed, EventField) and Counter.count_changed.name == "count_changed"
