"""Line crossings, zone dwell times, the heat map and the event export, on tracked
synthetic scenes whose true counts and times follow from the motion."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from engine.features.detect.counting import (
    CountLine,
    HeatMap,
    RegionCounter,
    RegionError,
    Regions,
    Zone,
    parse_line,
    parse_zone,
    save_events,
)
from engine.features.detect.synthetic_scenes import MovingObject, render_detections
from engine.features.detect.tracking import ByteTracker

FPS = 10.0
NAMES = ("person", "car", "dog")
LINE = CountLine("door", (100.0, 400.0), (1100.0, 400.0))  # drawn left to right: moving down is "in"
# Exits through x = 502.5 and enters through x = 302.5 (between two frame positions of E).
ZONE = Zone("bench", ((302.5, 560.0), (502.5, 560.0), (502.5, 640.0), (402.5, 660.0), (302.5, 640.0)))
SCENE = [
    MovingObject(1, 0, 0, 79, (300.0, 205.0), (0.0, 6.0)),    # person, down across the line: in
    MovingObject(2, 0, 5, 89, (600.0, 210.0), (1.0, 5.0)),    # person, down: in
    MovingObject(3, 1, 0, 89, (900.0, 602.0), (0.0, -5.0)),   # car, up: out
    MovingObject(4, 2, 0, 89, (1200.0, 205.0), (0.0, 6.0)),   # dog, down but beyond the line's end: not counted
    MovingObject(5, 2, 0, 119, (100.0, 600.0), (5.0, 0.0)),   # dog, through the zone: frames 41..80 inside
]


def run(frames, regions: Regions, tracker: ByteTracker | None = None) -> RegionCounter:
    tracker = tracker or ByteTracker()
    counter = RegionCounter(regions, NAMES)
    for truth in frames:
        tracks = tracker.update(truth.det_boxes, truth.det_scores, truth.det_class_ids)
        counter.update(tracks, truth.index / FPS, truth.index)
    return counter


@pytest.mark.parametrize("jitter", [0.0, 3.0])
def test_line_counts_are_exact_per_class_and_direction(jitter):
    frames = render_detections(SCENE, 120, jitter=jitter, seed=4)
    counter = run(frames, Regions(lines=(LINE,)))
    assert counter.line_counts["door"] == {"in": {"person": 2}, "out": {"car": 1}}
    events = [e for e in counter.events if e.kind == "line"]
    assert sorted((e.label, e.direction) for e in events) == [("car", "out"), ("person", "in"), ("person", "in")]
    # Each crossing happens at the frame the true centre passes y = 400.
    first = next(e for e in events if e.label == "person" and e.frame < 40)
    assert first.frame == 34  # 205 + 6 * 34 = 409: the first position 4 px (the margin) past the line
    snap = counter.snapshot()["lines"]["door"]
    assert snap["in_total"] == 2 and snap["out_total"] == 1


def test_zone_count_and_dwell_time_are_exact():
    frames = render_detections(SCENE, 120)
    counter = RegionCounter(Regions(zones=(ZONE,)), NAMES)
    tracker = ByteTracker()
    inside_counts = []
    for truth in frames:
        tracks = tracker.update(truth.det_boxes, truth.det_scores, truth.det_class_ids)
        counter.update(tracks, truth.index / FPS, truth.index)
        inside_counts.append(counter.snapshot()["zones"]["bench"]["inside"])
        if truth.index == 60:
            assert list(counter.inside("bench").values()) == [pytest.approx((60 - 41) / FPS)]
    enter = [e for e in counter.events if e.direction == "enter"]
    leave = [e for e in counter.events if e.direction == "exit"]
    assert [(e.frame, e.label) for e in enter] == [(41, "dog")]
    assert [(e.frame, e.label) for e in leave] == [(81, "dog")]
    assert leave[0].dwell == pytest.approx(4.0)
    assert sum(inside_counts) == 40 and counter.snapshot()["zones"]["bench"]["entered"] == {"dog": 1}


def test_a_track_that_vanishes_inside_a_zone_exits_it():
    frames = render_detections([MovingObject(1, 1, 0, 50, (350.0, 600.0), (1.0, 0.0))], 70)
    counter = run(frames, Regions(zones=(ZONE,)))
    leave = [e for e in counter.events if e.direction == "exit"]
    assert len(leave) == 1 and leave[0].label == "car" and leave[0].dwell == pytest.approx(5.1, abs=0.25)


def test_jitter_on_the_line_is_not_counted_again_and_again():
    rng = np.random.default_rng(0)
    counter = RegionCounter(Regions(lines=(LINE,)), NAMES)
    tracker = ByteTracker()
    for f in range(60):  # an object that stops on the line and shakes by +-3 px
        y = 380.0 + min(f, 20) + rng.uniform(-3, 3)
        counter.update(tracker.update(np.array([[280, y - 20, 320, y + 20]]), [0.9], [0]), f / FPS, f)
    total = sum(sum(c.values()) for c in counter.line_counts["door"].values())
    assert total == 0  # it never got clearly across


def test_bad_lines_and_zones_are_refused_clearly():
    with pytest.raises(RegionError, match="both points are the same"):
        CountLine("a", (10, 10), (10, 10))
    with pytest.raises(RegionError, match="crosses itself"):
        Zone("bow", ((0, 0), (100, 100), (100, 0), (0, 100)))
    with pytest.raises(RegionError, match="at least 3 corners"):
        Zone("two", ((0, 0), (1, 1)))
    with pytest.raises(RegionError, match="no area"):
        Zone("flat", ((0, 0), (50, 0), (100, 0)))
    with pytest.raises(RegionError, match="x1,y1,x2,y2"):
        parse_line("1,2,three,4")
    with pytest.raises(RegionError, match="exactly four"):
        parse_line("1,2,3")
    with pytest.raises(RegionError, match="pairs"):
        parse_zone("0,0,10,0,10")
    with pytest.raises(RegionError, match="called 'a'"):
        Regions(lines=(CountLine("a", (0, 0), (1, 5)), CountLine("a", (0, 0), (5, 5))))
    with pytest.raises(RegionError, match="cannot be read"):
        Regions.from_json("{\"lines\": [{\"p1\": [0, 0]}]}")


def test_cli_syntax_and_json_round_trip():
    line = parse_line("0,240,640,240:door")
    zone = parse_zone("10,10,100,10,100,100:yard")
    assert (line.name, line.p1, line.p2) == ("door", (0.0, 240.0), (640.0, 240.0))
    assert zone.name == "yard" and len(zone.points) == 3
    assert parse_line("0,0,5,5").name == "line"
    regions = Regions((line,), (zone,))
    assert Regions.from_json(regions.to_json()) == regions
    inside = zone.contains(np.array([[90.0, 20.0], [20.0, 90.0]]))
    assert inside.tolist() == [True, False]


def test_heat_map_window_and_peak():
    heat = HeatMap(width=640, height=480, window_s=60.0, cell=16, bucket_s=5.0)
    for t in range(30):
        heat.add(np.array([[100, 100, 140, 140], [400, 300, 440, 340]], np.float32)[: 1 if t % 3 else 2], float(t))
    image = heat.image()
    assert image.shape == (30, 40) and image.max() == 1.0
    assert image[7, 7] == 1.0 and image[20, 26] == pytest.approx(np.log(11) / np.log(31))  # log scale
    heat.add(np.zeros((0, 4)), 200.0)  # long after: everything older than the window falls off
    assert heat.counts().sum() == 0


def test_events_export_csv_and_json(tmp_path):
    frames = render_detections(SCENE, 120)
    counter = run(frames, Regions((LINE,), (ZONE,)))
    csv_path = save_events(counter.events, tmp_path / "events.csv")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == len(counter.events) == 5
    assert {r["region"] for r in rows} == {"door", "bench"}
    assert set(rows[0]) == {"time", "time_base", "frame", "track_id", "class_id", "label", "kind", "region", "direction", "dwell"}
    data = json.loads(save_events(counter.events, tmp_path / "events.json").read_text())
    assert [d["direction"] for d in data] == [e.direction for e in counter.events]
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        save_events(counter.events, tmp_path / "events.txt")
