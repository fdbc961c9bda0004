"""The latest-frame mailbox: newest wins, stale items are dropped and counted."""

from __future__ import annotations

import threading
import time

from engine.runtime.mailbox import Mailbox


def test_newest_item_wins_and_replaced_ones_count_as_dropped():
    box: Mailbox[int] = Mailbox()
    for i in range(5):
        box.put(i)
    assert box.take(timeout=0) == 4
    assert box.dropped == 4
    assert box.take(timeout=0) is None


def test_take_waits_for_an_item_and_times_out():
    box: Mailbox[str] = Mailbox()
    threading.Timer(0.05, box.put, args=("late",)).start()
    assert box.take(timeout=2) == "late"
    assert box.take(timeout=0.05) is None


def test_close_wakes_a_waiting_consumer():
    box: Mailbox[int] = Mailbox()
    got = []
    consumer = threading.Thread(target=lambda: got.append(box.take()))
    consumer.start()
    deadline = time.monotonic() + 5
    while box.waiting == 0 and time.monotonic() < deadline:
        threading.Event().wait(0.001)
    assert box.waiting == 1  # the consumer is blocked inside take(): close must wake it
    box.close()
    consumer.join(2)
    assert not consumer.is_alive() and got == [None]


def test_slow_consumer_always_gets_the_newest_item_and_nothing_queues():
    """A fast producer and a slow consumer: every take returns the newest item put so far.

    The lock only makes "newest so far" observable without a race; it does not change
    what the mailbox does.
    """
    box: Mailbox[int] = Mailbox()
    stop = threading.Event()
    lock = threading.Lock()
    produced: list[int] = []

    def produce() -> None:
        i = 0
        while not stop.is_set():
            with lock:
                box.put(i)
                produced.append(i)
            i += 1
            time.sleep(0.0005)

    producer = threading.Thread(target=produce)
    producer.start()
    taken = []
    try:
        for _ in range(15):
            time.sleep(0.02)
            with lock:
                item = box.take(timeout=0)
                newest = produced[-1] if produced else None
            if item is not None:
                assert item == newest
                taken.append(item)
    finally:
        stop.set()
        producer.join()
    assert len(taken) >= 10 and taken == sorted(set(taken))
    pending = 1 if box.full else 0
    assert box.dropped == box.put_count - box.taken - pending
    assert box.dropped >= len(produced) - len(taken) - 1 > 0
