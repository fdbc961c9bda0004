"""The latest-frame mailbox: newest wins, stale items are dropped and counted."""

from __future__ import annotations

import threading
import time

from engine.mailbox import Mailbox


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
    time.sleep(0.05)
    box.close()
    consumer.join(2)
    assert not consumer.is_alive() and got == [None]


def test_slow_consumer_sees_only_recent_items_and_nothing_queues():
    """A producer at ~1 kHz and a consumer at ~50 Hz: the consumer never falls behind."""
    box: Mailbox[int] = Mailbox()
    stop = threading.Event()
    produced = []

    def produce() -> None:
        i = 0
        while not stop.is_set():
            box.put(i)
            produced.append(i)
            i += 1
            time.sleep(0.001)

    producer = threading.Thread(target=produce)
    producer.start()
    lags = []
    taken = []
    for _ in range(15):
        time.sleep(0.02)
        item = box.take(timeout=1)
        assert item is not None
        taken.append(item)
        lags.append(produced[-1] - item)
    stop.set()
    producer.join()
    assert taken == sorted(taken) and len(set(taken)) == len(taken)
    # The item handed over is (nearly) the newest one, however long the consumer took.
    assert max(lags) <= 2
    assert box.dropped == box.put_count - box.taken - (1 if box.full else 0)
    assert box.dropped > 10 * len(taken)
