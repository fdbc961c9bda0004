"""`track` on hostile `detect --json` files: one `error:` line naming file:line, bounded memory.

Each case runs `main.py track` in a child under a 3 GiB data limit and asserts its peak RSS
stays under 2 GB. The inputs are small: every limit is checked before anything is built
from a line.
"""

from __future__ import annotations

import json

import pytest

from cli.track import CHARS_PER_DETECTION, MAX_FRAME
from engine.features.detect.counting import MAX_ZONE_CORNERS, RegionError, Regions
from engine.features.detect.tracking import MAX_CLASS_ID, MAX_DETECTIONS_PER_FRAME
from tests.hardening.conftest import TWO_GB_KIB
from tests.hardening.limited_cli import run_limited

DET = '{"class_id": 0, "label": "cup", "score": 0.9, "box": [0, 0, 10, 10]}'


def frame_line(frame: int, dets: str = DET) -> str:
    return f'{{"frame": {frame}, "detections": [{dets}]}}\n'


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("line, fragment", [
    (frame_line(0, DET.replace('"class_id": 0', '"class_id": 1e30')), '"class_id" 1e+30: give a whole number'),
    (frame_line(0, DET.replace('"class_id": 0', '"class_id": Infinity')), "Infinity is not a number"),
    (frame_line(0, DET.replace('"class_id": 0', f'"class_id": {MAX_CLASS_ID + 1}')), f"0 to {MAX_CLASS_ID:,}"),
    (frame_line(0, DET.replace('"score": 0.9', '"score": NaN')), "NaN is not a number"),
    ('{"frame": 1e400, "detections": []}\n', "1e400 is too large a number"),
    (f'{{"frame": {MAX_FRAME + 1}, "detections": []}}\n', '"frame"'),
    ('{"frame": 0, "detections": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "nested too deeply"),
    (frame_line(0, DET.replace("[0, 0, 10, 10]", "[0, 0, 10, 10, 0, 0, 10, 10]")), '"box" must be four numbers'),
    (frame_line(0, DET.replace("[0, 0, 10, 10]", "null")), '"box" must be four numbers'),
    (frame_line(0, DET.replace("[0, 0, 10, 10]", "[]")), '"box" must be four numbers'),
    (frame_line(0, DET.replace("[0, 0, 10, 10]", "[10, 0, 0, 10]")), "x1 <= x2"),
    (frame_line(0, DET.replace('"score": 0.9', '"score": 7')), '"score" must be a number from 0 to 1'),
])
def test_a_hostile_line_is_one_error_naming_file_and_line(tmp_path, line, fragment):
    path = write(tmp_path, "dets.jsonl", frame_line(0) + line.replace('"frame": 0', '"frame": 1'))
    result = run_limited("track", path, "--json")
    result.assert_one_error(f"{path}:2:", fragment)
    assert result.peak_kib < TWO_GB_KIB


def test_too_many_detections_in_a_frame_are_refused_before_any_array(tmp_path):
    """A million detections in two frames raised MemoryError (a 3.6 TiB IoU matrix); the
    count is checked right after the line is parsed, so a 0.3 MB file shows the limit."""
    many = ", ".join([DET] * (MAX_DETECTIONS_PER_FRAME + 1))
    path = write(tmp_path, "many.jsonl", frame_line(0) + frame_line(1, many))
    result = run_limited("track", path)
    result.assert_one_error(f"{path}:2:", f"{MAX_DETECTIONS_PER_FRAME + 1:,} detections in one frame",
                            f"the limit is {MAX_DETECTIONS_PER_FRAME:,}")
    assert result.peak_kib < TWO_GB_KIB


def test_a_line_too_long_to_hold_a_frame_is_refused_unread(tmp_path):
    limit = MAX_DETECTIONS_PER_FRAME * CHARS_PER_DETECTION
    path = write(tmp_path, "long.jsonl", frame_line(0) + '{"frame": 1, "detections": [], "pad": "' + "x" * limit + '"}\n')
    result = run_limited("track", path)
    result.assert_one_error(f"{path}:2:", f"({limit:,} bytes)")  # the line limit, named before the line is held
    assert result.peak_kib < TWO_GB_KIB


def test_frames_going_backwards_are_refused_not_counted_with_negative_dwell(tmp_path):
    lines = [frame_line(f, DET.replace("[0, 0, 10, 10]", "[100, 100, 120, 120]")) for f in (10, 11, 12, 3, 4)]
    path = write(tmp_path, "joined.jsonl", "".join(lines))
    events = tmp_path / "events.json"
    result = run_limited("track", path, "--zone", "0,0,500,0,500,500,0,500", "--events", events)
    result.assert_one_error(f"{path}:4:", "frame 3 comes after frame 12", "must increase")
    assert not events.exists()


def test_a_huge_class_id_costs_no_table_as_long_as_it(tmp_path):
    """`"class_id": 1000000000` used 15.5 GB (a name table up to that id); the largest
    allowed id is named from the labels that appear, in a few MB."""
    det = DET.replace('"class_id": 0', f'"class_id": {MAX_CLASS_ID}').replace('"label": "cup"', '"label": "teapot"')
    lines = [frame_line(f, det.replace("[0, 0, 10, 10]", f"[{10 * f}, 100, {10 * f + 30}, 130]")) for f in range(14)]
    path = write(tmp_path, "ids.jsonl", "".join(lines))
    result = run_limited("track", path, "--line", "100,0,100,400:gate")
    assert result.rc == 0, result.stderr
    assert "line gate: in 0, out 1 (teapot 1)" in result.stdout
    assert result.peak_kib < TWO_GB_KIB


def test_a_crowd_at_the_cap_every_frame_stays_bounded(tmp_path):
    """MAX_DETECTIONS_PER_FRAME boxes a frame on new places every second frame (tracks pile up
    past MAX_TRACKS), then all on top of each other: the tracker lists overlapping pairs only,
    in blocks, so memory stays bounded (a dense IoU matrix of these took gigabytes)."""
    side = int(MAX_DETECTIONS_PER_FRAME ** 0.5)
    lines = []
    for f in range(6):
        shift = (f // 2) * 7
        dets = [f'{{"class_id": 0, "score": 0.9, "box": [{x * 20 + shift}, {y * 20 + shift}, {x * 20 + shift + 10}, '
                f'{y * 20 + shift + 10}]}}' for x in range(side) for y in range(side)]
        lines.append(frame_line(f, ", ".join(dets)))
    same = ", ".join(['{"class_id": 0, "score": 0.9, "box": [0, 0, 100, 100]}'] * MAX_DETECTIONS_PER_FRAME)
    lines += [frame_line(f, same) for f in (6, 7)]
    path = write(tmp_path, "crowd.jsonl", "".join(lines))
    result = run_limited("track", path, timeout=400)
    assert result.rc == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.peak_kib < TWO_GB_KIB


def test_track_json_is_strictly_valid(tmp_path):
    lines = [frame_line(f, DET.replace("[0, 0, 10, 10]", f"[{5 * f}, 0, {5 * f + 10}, 10]")) for f in range(4)]
    path = write(tmp_path, "ok.jsonl", "".join(lines))
    result = run_limited("track", path, "--json")
    assert result.rc == 0, result.stderr

    def refuse(name):
        raise AssertionError(f"{name} in the output")

    records = [json.loads(line, parse_constant=refuse) for line in result.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3]


def test_a_zone_with_too_many_corners_is_refused_at_once(tmp_path):
    """10,000 corners took 39 s to check (every edge against every other) and froze the GUI
    reading a saved zone; now the count is checked first, and the check is vectorised."""
    import math

    corners = [(500 + 400 * math.cos(2 * math.pi * i / 10_000), 500 + 400 * math.sin(2 * math.pi * i / 10_000))
               for i in range(10_000)]
    path = write(tmp_path, "ok.jsonl", frame_line(0))
    zone = ",".join(f"{x:.0f},{y:.0f}" for x, y in corners)  # under the 128 KiB a command-line word may take
    result = run_limited("track", path, "--zone", zone + ":round")
    result.assert_one_error("zone 'round'", "10,000 corners", f"at most {MAX_ZONE_CORNERS:,}")
    saved = json.dumps({"zones": [{"name": "round", "points": corners}]})
    with pytest.raises(RegionError, match="10,000 corners"):
        Regions.from_json(saved)
    # The largest allowed zone is accepted (and checked for self-crossings).
    ring = corners[:: 10_000 // MAX_ZONE_CORNERS]
    assert len(Regions.from_json(json.dumps({"zones": [{"name": "ring", "points": ring}]})).zones[0].points) == len(ring)
