"""What the Detect tab exports says when (issue 27, item 5): counting events and the
session's detections carry video time for a file and the wall clock for a live source,
named in a ``time_base`` column; *Export session detections…* writes every frame seen."""

from __future__ import annotations

import csv
import threading
import time

import numpy as np
import pytest

from engine.core.frame import Frame
from engine.features.detect.task import event_time
from engine.io.video import VideoSource
from engine.runtime.sync import run_task
from tests.detect.test_detect_in_window import write_video
from tests.detect.test_detect_tab import context, installed_tab, tab  # noqa: F401 (fixtures)

FPS = 10.0


def _video_frames(path, loop=False, count=None) -> list[Frame]:
    """The frames a VideoSource delivers (as fast as it reads), in order."""
    source = VideoSource(path, realtime=False, loop=loop)
    frames: list[Frame] = []
    done = threading.Event()
    source.subscribe(lambda f: (frames.append(f), count is not None and len(frames) >= count and done.set()))
    source.on_event(lambda e: e.kind == "ended" and done.set())
    source.start()
    assert done.wait(30)
    source.stop()
    return frames if count is None else frames[:count]


def test_a_video_frame_knows_its_time_in_the_file_and_wraps_when_the_video_loops(tmp_path):
    path = write_video(tmp_path / "clip.avi", frames=12, fps=FPS)
    frames = _video_frames(path, loop=True, count=30)
    assert [f.index for f in frames] == list(range(30))
    assert [f.position for f in frames] == pytest.approx([(i % 12) / FPS for i in range(30)])
    assert event_time(frames[13]) == (pytest.approx(0.1), "video")
    before = time.time()
    live = Frame(frames[0].image, 5, time.monotonic(), "camera 0")  # a live source: no position
    seconds, base = event_time(live)
    assert base == "wall" and before - 1.0 <= seconds <= time.time() + 1.0


def test_events_and_the_session_export_in_video_time(qtbot, installed_tab, tmp_path):
    tab = installed_tab
    path = write_video(tmp_path / "street.avi", frames=12, size=(320, 240), fps=FPS)
    frames = _video_frames(path)
    tab.controller.set_source(frames[0].source)
    tab.regions_box.zone_button.click()  # a zone over the whole picture: every confirmed track enters it
    for x, y in ((1, 1), (318, 1), (318, 238), (1, 238)):
        tab.on_frame_clicked(float(x), float(y))
    tab.regions_box.finish_button.click()
    assert tab.controller.tracking and tab.task_settings().regions.zones
    task = tab.make_task()
    for result in run_task(task, frames, device="cpu", settings=tab.task_settings()):
        tab.on_result(result)

    assert tab.export_events(tmp_path / "events.csv")
    events = list(csv.DictReader((tmp_path / "events.csv").open()))
    assert events, "the whole-picture zone saw no track enter"
    for event in events:
        assert event["time_base"] == "video"
        assert float(event["time"]) == pytest.approx(int(event["frame"]) / FPS, abs=1e-3)

    assert tab.export_detections(tmp_path / "session.csv")
    rows = list(csv.DictReader((tmp_path / "session.csv").open()))
    seen = {int(r["frame"]) for r in rows}
    assert len(seen) > 6 and {r["source"] for r in rows} == {"street.avi"}  # every frame with boxes, not one
    for row in rows:
        assert row["time_base"] == "video" and float(row["time"]) == pytest.approx(int(row["frame"]) / FPS, abs=1e-3)
    assert any(int(r["track_id"]) >= 0 for r in rows)
    totals = [len(f.detections) for f in tab.controller.session]
    assert len(rows) == sum(totals) and len(tab.controller.session) == len(frames)
    assert np.all(np.diff([f.frame for f in tab.controller.session]) == 1)
