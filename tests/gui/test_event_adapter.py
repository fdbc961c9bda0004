"""gui.common.events: engine events reach Qt slots on the GUI thread, whoever emits them."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QWidget

from engine.core.events import Controller, Event, EventField
from gui.common.context import AppContext
from gui.common.events import connect_event
from gui.common.tab_base import StudioTab


class Receiver(QObject):
    """A real QObject on the GUI thread that records which thread ran its slot."""

    got = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[object, bool, int]] = []

    def slot(self, value: object) -> None:
        self.calls.append((value, QThread.currentThread() is self.thread(), threading.get_ident()))
        self.got.emit(value)


def emit_from_worker(event: Event, *values: object) -> None:
    thread = threading.Thread(target=lambda: [event.emit(v) for v in values])
    thread.start()
    thread.join(10)


def test_an_emit_on_the_gui_thread_calls_the_slot_at_once(qtbot):
    receiver = Receiver()
    event: Event[int] = Event("now")
    connect_event(event, receiver, receiver.slot)
    event.emit(1)
    assert receiver.calls == [(1, True, threading.get_ident())]  # before emit returned, no event loop


def test_emits_from_a_worker_thread_arrive_on_the_gui_thread_in_order(qtbot):
    receiver = Receiver()
    event: Event[int] = Event("from-worker")
    connect_event(event, receiver, receiver.slot)
    with qtbot.waitSignals([receiver.got] * 3, timeout=5000):
        emit_from_worker(event, 1, 2, 3)
    gui = threading.get_ident()
    assert receiver.calls == [(1, True, gui), (2, True, gui), (3, True, gui)]


def test_disconnect_and_a_deleted_receiver_end_the_connection(qtbot):
    receiver = Receiver()
    event: Event[str] = Event("lifetime")
    disconnect = connect_event(event, receiver, receiver.slot)
    emit_from_worker(event, "queued")
    disconnect()  # the queued value must not arrive after this
    qtbot.wait(50)
    assert receiver.calls == [] and len(event) == 0
    disconnect()

    widget = QWidget()
    seen = []
    connect_event(event, widget, seen.append)
    assert len(event) == 1
    widget.deleteLater()
    qtbot.waitUntil(lambda: len(event) == 0, timeout=5000)
    event.emit("after")  # nothing reaches the deleted widget, nothing crashes
    emit_from_worker(event, "after, from a worker")
    qtbot.wait(50)
    assert seen == []


def test_a_failing_slot_is_logged_and_the_other_slots_still_run(qtbot, caplog):
    receiver = Receiver()
    event: Event[int] = Event("Probe.failing")
    connect_event(event, receiver, lambda value: 1 / 0)
    connect_event(event, receiver, receiver.slot)
    with caplog.at_level(logging.ERROR):
        event.emit(1)  # GUI thread: Event.emit logs
        with qtbot.waitSignal(receiver.got, timeout=5000):
            emit_from_worker(event, 2)  # worker thread: the relay logs on the GUI thread
    assert [c[0] for c in receiver.calls] == [1, 2]
    failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ZeroDivisionError]
    assert len(failures) == 2


class ProbeController(Controller):
    progress = EventField[float]("a fraction done")


class FollowingTab(StudioTab):
    title = "Following"

    def __init__(self, context: AppContext) -> None:
        super().__init__(context)
        self.controller = ProbeController()
        self.progress: list[float] = []
        self.listen(self.controller.progress, self.progress.append)
        self.follow(self.controller)


@pytest.fixture()
def tab(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    context = AppContext(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), "cpu")
    widget = FollowingTab(context)
    qtbot.addWidget(widget)
    return widget


def test_a_tab_follows_its_controller_from_any_thread(qtbot, tab):
    with qtbot.waitSignal(tab.task_changed, timeout=5000):
        emit_from_worker(tab.controller.task_changed, None)
    with qtbot.waitSignal(tab.settings_changed, timeout=1000):
        tab.controller.settings_changed.emit()
    emit_from_worker(tab.controller.status, "half way")
    emit_from_worker(tab.controller.progress, 0.5)
    qtbot.waitUntil(lambda: tab.progress == [0.5] and tab.context.last_status == "half way", timeout=5000)
    tab.controller.close()
    tab.controller.status.emit("closed")
    assert tab.context.last_status == "half way"
