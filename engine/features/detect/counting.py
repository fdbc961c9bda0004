"""Counting on top of tracks: lines crossed (in/out per class), zones occupied (count and
dwell time per track), a heat map of where detections were, and the event log.

Geometry is in frame pixels (origin top-left, x right, y down). A track is reduced to one
point per frame, its box centre (``anchor="center"``) or the middle of its bottom edge
(``anchor="bottom"``, where feet touch the floor).

Line direction: walking along the line from ``p1`` to ``p2`` *as drawn on the picture*,
an object that crosses from your left-hand side to your right-hand side is counted
"in", the other way "out". For a line drawn left to right, moving down the picture is
"in".

Times are seconds: for a video file its own time (frame index / fps), for a live source
the wall clock at capture (Unix seconds, UTC); each event says which in ``time_base``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.core.errors import UserError
from engine.features.detect.tracking import Tracks

log = logging.getLogger(__name__)

ANCHORS = ("center", "bottom")

# Limits: the corners of one zone (each is compared with every other edge when the zone is
# made, and with every track point per frame), and the edge pairs compared per block then.
MAX_ZONE_CORNERS = 1000
ZONE_CHECK_BLOCK = 1 << 18


class RegionError(UserError, ValueError):
    """A line or zone that cannot be used; the message says which and why."""


def _clean_name(name: str, fallback: str) -> str:
    name = str(name or "").strip()
    return name or fallback


@dataclass(frozen=True)
class CountLine:
    """A counting line from p1 to p2 (frame pixels). Both points must differ."""

    name: str
    p1: tuple[float, float]
    p2: tuple[float, float]

    def __post_init__(self) -> None:
        p1 = tuple(float(v) for v in self.p1)
        p2 = tuple(float(v) for v in self.p2)
        if len(p1) != 2 or len(p2) != 2 or not all(math.isfinite(v) for v in p1 + p2):
            raise RegionError(f"line '{self.name}': give two points x1,y1,x2,y2 in pixels")
        if math.hypot(p2[0] - p1[0], p2[1] - p1[1]) < 1.0:
            raise RegionError(f"line '{self.name}': both points are the same ({p1[0]:g},{p1[1]:g}); "
                              "draw a line between two different points")
        object.__setattr__(self, "p1", p1)
        object.__setattr__(self, "p2", p2)

    def side(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """(N,) side of each (N, 2) point: +1 right-hand, -1 left-hand, 0 within ``margin``
        pixels of the (infinite) line."""
        (x1, y1), (x2, y2) = self.p1, self.p2
        length = math.hypot(x2 - x1, y2 - y1)
        distance = ((x2 - x1) * (points[:, 1] - y1) - (y2 - y1) * (points[:, 0] - x1)) / length
        return np.where(np.abs(distance) <= margin, 0, np.sign(distance)).astype(np.int8)

    def crossed_by(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """(N,) bool: the segments start[i]->end[i] (N, 2) meet the line segment p1-p2."""
        p1 = np.asarray(self.p1)
        p2 = np.asarray(self.p2)
        d = p2 - p1
        m = end - start
        denom = d[0] * m[:, 1] - d[1] * m[:, 0]
        w = start - p1
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (w[:, 0] * m[:, 1] - w[:, 1] * m[:, 0]) / denom  # along the line
            u = (w[:, 0] * d[1] - w[:, 1] * d[0]) / denom  # along the motion
        return (denom != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)

    def to_dict(self) -> dict:
        return {"name": self.name, "p1": list(self.p1), "p2": list(self.p2)}


def _orientation(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Sign (-1, 0, +1) of the turn p -> q -> r for broadcast (..., 2) points; 0 when collinear
    within 1e-9."""
    v = (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
    return np.where(np.abs(v) < 1e-9, 0, np.sign(v)).astype(np.int8)


def _first_self_crossing(pts: np.ndarray) -> tuple[int, int] | None:
    """The first pair (i, j), i < j, in row order, of edges of the closed outline ``pts``
    (n, 2) that properly intersect (touching at an end does not count); None if none.

    Edge i runs from corner i to corner i+1. Vectorised in blocks of rows, so a zone of
    ``MAX_ZONE_CORNERS`` corners is checked in milliseconds with a few MB of memory.
    """
    n = len(pts)
    a, b = pts, np.roll(pts, -1, axis=0)
    cols = np.arange(n)
    block = max(1, ZONE_CHECK_BLOCK // n)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        ai, bi = a[rows, None, :], b[rows, None, :]
        aj, bj = a[None, :, :], b[None, :, :]
        o1, o2 = _orientation(ai, bi, aj), _orientation(ai, bi, bj)
        o3, o4 = _orientation(aj, bj, ai), _orientation(aj, bj, bi)
        cross = ((o1 * o2) < 0) & ((o3 * o4) < 0)
        # Only later edges that are not neighbours (neighbouring edges share a corner).
        later = cols[None, :] > rows[:, None] + 1
        later &= ~((rows[:, None] == 0) & (cols[None, :] == n - 1))
        hits = np.argwhere(cross & later)
        if len(hits):
            i, j = hits[0]
            return int(rows[i]), int(j)
    return None


@dataclass(frozen=True)
class Zone:
    """A polygon zone (frame pixels), 3 to ``MAX_ZONE_CORNERS`` corners, not self-intersecting."""

    name: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        try:
            pts = tuple((float(x), float(y)) for x, y in self.points)
        except (TypeError, ValueError):
            raise RegionError(f"zone '{self.name}': give corners as x,y pairs in pixels") from None
        if len(pts) < 3:
            raise RegionError(f"zone '{self.name}': a zone needs at least 3 corners (got {len(pts)})")
        if not all(math.isfinite(v) for p in pts for v in p):
            raise RegionError(f"zone '{self.name}': corners must be finite numbers")
        n = len(pts)
        if n > MAX_ZONE_CORNERS:
            raise RegionError(f"zone '{self.name}': {n:,} corners; a zone has at most {MAX_ZONE_CORNERS:,} "
                              "(simplify the outline: a few corners around the area are enough)")
        crossing = _first_self_crossing(np.asarray(pts, np.float64))
        if crossing is not None:
            i, j = crossing
            raise RegionError(f"zone '{self.name}': the outline crosses itself (edges {i + 1} and {j + 1}); "
                              "draw the corners in order around the area")
        area = 0.5 * abs(sum(pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1] for i in range(n)))
        if area < 1.0:
            raise RegionError(f"zone '{self.name}': the corners enclose no area (all on one line?)")
        object.__setattr__(self, "points", pts)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: which (N, 2) points are inside (even-odd rule, vectorised)."""
        poly = np.asarray(self.points)
        x, y = points[:, 0:1], points[:, 1:2]
        xi, yi = poly[:, 0][None, :], poly[:, 1][None, :]
        xj, yj = np.roll(poly[:, 0], 1)[None, :], np.roll(poly[:, 1], 1)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            hits = ((yi > y) != (yj > y)) & (x < (xj - xi) * (y - yi) / (yj - yi) + xi)
        return (hits.sum(axis=1) % 2) == 1

    def to_dict(self) -> dict:
        return {"name": self.name, "points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class Regions:
    """The lines and zones of one source (names unique within each kind)."""

    lines: tuple[CountLine, ...] = ()
    zones: tuple[Zone, ...] = ()

    def __post_init__(self) -> None:
        for kind, items in (("line", self.lines), ("zone", self.zones)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise RegionError(f"two {kind}s are called '{dupes[0]}': give each {kind} its own name")

    def to_json(self) -> str:
        return json.dumps({"lines": [l.to_dict() for l in self.lines], "zones": [z.to_dict() for z in self.zones]})

    @classmethod
    def from_json(cls, text: str) -> "Regions":
        """Parse ``to_json`` output; raises RegionError naming what is wrong."""
        try:
            data = json.loads(text) if text else {}
            lines = tuple(CountLine(str(d["name"]), tuple(d["p1"]), tuple(d["p2"])) for d in data.get("lines", []))
            zones = tuple(Zone(str(d["name"]), tuple(tuple(p) for p in d["points"])) for d in data.get("zones", []))
        except RegionError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RegionError(f"saved lines/zones cannot be read ({type(exc).__name__}: {exc})") from None
        return cls(lines, zones)


def parse_line(text: str, default_name: str = "line") -> CountLine:
    """"x1,y1,x2,y2[:name]" -> CountLine (CLI syntax)."""
    coords, _, name = str(text).partition(":")
    try:
        values = [float(v) for v in coords.split(",")]
    except ValueError:
        raise RegionError(f"--line {text}: give x1,y1,x2,y2[:name] in pixels (e.g. 0,240,640,240:door)") from None
    if len(values) != 4:
        raise RegionError(f"--line {text}: give exactly four numbers x1,y1,x2,y2 (got {len(values)})")
    return CountLine(_clean_name(name, default_name), (values[0], values[1]), (values[2], values[3]))


def parse_zone(text: str, default_name: str = "zone") -> Zone:
    """"x,y,x,y,x,y,...[:name]" -> Zone (CLI syntax)."""
    coords, _, name = str(text).partition(":")
    try:
        values = [float(v) for v in coords.split(",")]
    except ValueError:
        raise RegionError(f"--zone {text}: give x,y,x,y,x,y,...[:name] in pixels") from None
    if len(values) % 2:
        raise RegionError(f"--zone {text}: the numbers must come in x,y pairs (got {len(values)} numbers)")
    return Zone(_clean_name(name, default_name), tuple(zip(values[0::2], values[1::2])))


@dataclass(frozen=True)
class CountEvent:
    """One counted happening: a line crossed, a zone entered or left.

    time: seconds, counted as ``time_base`` says: "video" (seconds into the video file)
    or "wall" (Unix seconds, UTC, when the frame was captured from a live source).
    kind: "line" or "zone". direction: "in"/"out" for lines, "enter"/"exit" for zones.
    dwell: seconds inside (exit events), else None.
    """

    time: float
    frame: int
    track_id: int
    class_id: int
    label: str
    kind: str
    region: str
    direction: str
    dwell: float | None = None
    time_base: str = "video"

    def to_dict(self) -> dict:
        return {"time": round(self.time, 4), "time_base": self.time_base, "frame": self.frame, "track_id": self.track_id, "class_id": self.class_id,
                "label": self.label, "kind": self.kind, "region": self.region, "direction": self.direction,
                "dwell": None if self.dwell is None else round(self.dwell, 4)}


TIME_BASES = ("video", "wall")
EVENT_FIELDS = ("time", "time_base", "frame", "track_id", "class_id", "label", "kind", "region", "direction", "dwell")


def anchor_points(tracks: Tracks, anchor: str = "center") -> np.ndarray:
    """(N, 2) float64 reference point of each track box."""
    b = tracks.boxes.astype(np.float64)
    x = (b[:, 0] + b[:, 2]) * 0.5
    y = (b[:, 1] + b[:, 3]) * 0.5 if anchor == "center" else b[:, 3]
    return np.stack((x, y), axis=1)


class RegionCounter:
    """Counts line crossings and zone occupancy from successive ``Tracks``.

    ``update(tracks, time, frame)`` returns the events of that frame. State kept per track:
    its last point that was clearly on one side of each line, at least ``margin`` pixels
    away (so a box jittering on the line is not counted again and again; a crossing is
    counted on the first frame the point is ``margin`` past the line), and, per zone,
    when it entered.
    """

    def __init__(self, regions: Regions, class_names: tuple[str, ...] = (), anchor: str = "center",
                 margin: float = 4.0) -> None:
        if anchor not in ANCHORS:
            raise RegionError(f"anchor '{anchor}' is not one of {', '.join(ANCHORS)}")
        self.margin = float(margin)
        self.regions = regions
        self.class_names = tuple(class_names)
        self.anchor = anchor
        self.reset()

    def reset(self) -> None:
        # line name -> {track id: (side, x, y)}; zone name -> {track id: (entered time, class id)}
        self._line_state: dict[str, dict[int, tuple[int, float, float]]] = {l.name: {} for l in self.regions.lines}
        self._inside: dict[str, dict[int, tuple[float, int]]] = {z.name: {} for z in self.regions.zones}
        self.line_counts: dict[str, dict[str, dict[str, int]]] = {
            l.name: {"in": {}, "out": {}} for l in self.regions.lines}
        self.zone_totals: dict[str, dict[str, int]] = {z.name: {} for z in self.regions.zones}
        self.events: list[CountEvent] = []
        self.last_time = 0.0
        self._time_base = "video"

    def with_regions(self, regions: Regions) -> "RegionCounter":
        """A counter for ``regions`` that carries on this one's counts and per-track state
        for every line and zone whose geometry did not change, also when it was renamed;
        a new or moved line/zone starts from zero, a deleted one is forgotten. The event
        log is kept. Why: editing one region (drawing a zone, renaming a line) must not
        reset the totals of the others."""
        new = RegionCounter(regions, self.class_names, self.anchor, self.margin)
        old_lines = {line.name: line for line in self.regions.lines}
        old_zones = {zone.name: zone for zone in self.regions.zones}

        def match(item, old: dict, same) -> str | None:
            """The old region ``item`` continues: the same name and geometry, else the
            first old one with its geometry that no new region of that name claims."""
            if item.name in old and same(old[item.name], item):
                return item.name
            names = {r.name for r in (regions.lines if old is old_lines else regions.zones)}
            return next((name for name, r in old.items() if same(r, item) and name not in names), None)

        for line in regions.lines:
            name = match(line, old_lines, lambda a, b: (a.p1, a.p2) == (b.p1, b.p2))
            if name is not None:
                new._line_state[line.name] = dict(self._line_state[name])
                new.line_counts[line.name] = {d: dict(c) for d, c in self.line_counts[name].items()}
        for zone in regions.zones:
            name = match(zone, old_zones, lambda a, b: a.points == b.points)
            if name is not None:
                new._inside[zone.name] = dict(self._inside[name])
                new.zone_totals[zone.name] = dict(self.zone_totals[name])
        new.events = list(self.events)
        new.last_time = self.last_time
        return new

    def label(self, class_id: int) -> str:
        """The name of ``class_id`` from ``class_names``: a tuple indexed by id, or a mapping
        id -> name (sparse ids, e.g. read back from a file), else "class N"."""
        names = self.class_names
        if isinstance(names, Mapping):
            return names.get(class_id) or f"class {class_id}"
        return names[class_id] if 0 <= class_id < len(names) else f"class {class_id}"

    def update(self, tracks: Tracks, time: float, frame: int = 0, time_base: str = "video") -> list[CountEvent]:
        """The events of one frame at ``time`` seconds (counted as ``time_base`` says, see
        ``CountEvent``)."""
        self.last_time = float(time)
        self._time_base = time_base
        points = anchor_points(tracks, self.anchor)
        ids = tracks.ids.tolist()
        classes = tracks.class_ids.tolist()
        new: list[CountEvent] = []
        for line in self.regions.lines:
            state = self._line_state[line.name]
            sides = line.side(points, self.margin)
            for i, tid in enumerate(ids):
                side = int(sides[i])
                if side == 0:
                    continue  # on the line: wait until it is clearly across
                x, y = points[i]
                before = state.get(tid)
                state[tid] = (side, x, y)
                if before is None or before[0] == side:
                    continue
                start = np.array([[before[1], before[2]]])
                if not line.crossed_by(start, points[i:i + 1])[0]:
                    continue  # changed side beyond the line's ends
                direction = "in" if side > 0 else "out"
                per_class = self.line_counts[line.name][direction]
                label = self.label(classes[i])
                per_class[label] = per_class.get(label, 0) + 1
                new.append(CountEvent(float(time), frame, tid, classes[i], label, "line", line.name, direction,
                                      time_base=time_base))
        present = set(ids)
        for zone in self.regions.zones:
            inside_now = zone.contains(points) if len(points) else np.zeros(0, bool)
            entered = self._inside[zone.name]
            for i, tid in enumerate(ids):
                if inside_now[i] and tid not in entered:
                    entered[tid] = (float(time), classes[i])
                    label = self.label(classes[i])
                    totals = self.zone_totals[zone.name]
                    totals[label] = totals.get(label, 0) + 1
                    new.append(CountEvent(float(time), frame, tid, classes[i], label, "zone", zone.name, "enter",
                                          time_base=time_base))
                elif not inside_now[i] and tid in entered:
                    new.append(self._exit(zone.name, tid, time, frame))
            # A track that vanished while inside (left the picture, lost) leaves the zone too.
            for tid in [t for t in entered if t not in present]:
                new.append(self._exit(zone.name, tid, time, frame))
        self.events.extend(new)
        return new

    def _exit(self, zone: str, tid: int, time: float, frame: int) -> CountEvent:
        since, class_id = self._inside[zone].pop(tid)
        return CountEvent(float(time), frame, tid, class_id, self.label(class_id), "zone", zone, "exit",
                          float(time) - since, self._time_base)

    def inside(self, zone: str) -> dict[int, float]:
        """Track id -> seconds inside ``zone`` so far (at the last update's time)."""
        return {tid: self.last_time - t0 for tid, (t0, _c) in self._inside[zone].items()}

    def snapshot(self) -> dict:
        """JSON-ready counts so far: per line in/out per class, per zone current count and totals."""
        return {
            "lines": {name: {d: dict(c) for d, c in counts.items()} | {
                "in_total": sum(counts["in"].values()), "out_total": sum(counts["out"].values())}
                for name, counts in self.line_counts.items()},
            "zones": {name: {"inside": len(self._inside[name]), "entered": dict(self.zone_totals[name])}
                      for name in self._inside},
        }


def save_events(events: list[CountEvent], path: str | Path) -> Path:
    """Write events to ``path`` as CSV (.csv) or JSON (.json, a list of objects), atomically:
    a failed write (a full disk) leaves the previous file as it was and raises
    ``engine.core.safe_files.OutputWriteError`` naming ``path``."""
    from engine.core.safe_files import atomic_write_json, atomic_write_text

    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"{path}: events are saved as .csv or .json")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist")
    if suffix == ".json":
        return atomic_write_json(path, [e.to_dict() for e in events], indent=1)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=EVENT_FIELDS)
    writer.writeheader()
    for event in events:
        writer.writerow({k: ("" if v is None else v) for k, v in event.to_dict().items()})
    return atomic_write_text(path, text.getvalue())


@dataclass
class HeatMap:
    """Where detections were over the last ``window_s`` seconds, on a coarse grid.

    Each ``add`` splats box centres into a (rows, cols) grid of ``cell`` pixels; the grid
    is kept in buckets of ``bucket_s`` seconds so old ones fall off without a per-point
    history. ``image()`` returns the sum over the window, float32 0..1 on a log scale.
    """

    width: int
    height: int
    window_s: float = 300.0
    cell: int = 8
    bucket_s: float = 10.0
    _buckets: deque = field(default_factory=deque, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (max(1, -(-self.height // self.cell)), max(1, -(-self.width // self.cell)))

    def add(self, boxes: np.ndarray, time: float) -> None:
        """Count the centres of (N, 4) xyxy boxes at ``time`` seconds."""
        rows, cols = self.shape
        if not self._buckets or time - self._buckets[-1][0] >= self.bucket_s:
            self._buckets.append((float(time), np.zeros((rows, cols), np.float32)))
        while self._buckets and time - self._buckets[0][0] > self.window_s + self.bucket_s:
            self._buckets.popleft()
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(b):
            return
        cx = np.clip(((b[:, 0] + b[:, 2]) * 0.5 / self.cell).astype(np.int64), 0, cols - 1)
        cy = np.clip(((b[:, 1] + b[:, 3]) * 0.5 / self.cell).astype(np.int64), 0, rows - 1)
        np.add.at(self._buckets[-1][1], (cy, cx), 1.0)

    def counts(self, now: float | None = None) -> np.ndarray:
        """(rows, cols) float32 detections per cell within the window ending at ``now``."""
        rows, cols = self.shape
        total = np.zeros((rows, cols), np.float32)
        latest = now if now is not None else (self._buckets[-1][0] if self._buckets else 0.0)
        for t0, grid in self._buckets:
            if latest - t0 <= self.window_s:
                total += grid
        return total

    def image(self, now: float | None = None) -> np.ndarray:
        """(rows, cols) float32 0..1 on a log scale, log(1 + n) / log(1 + peak): a spot
        that a parked car fills every frame must not make the paths walked by once vanish."""
        total = self.counts(now)
        peak = float(total.max())
        return (np.log1p(total) / np.float32(np.log1p(peak))).astype(np.float32) if peak > 0 else total

    def clear(self) -> None:
        self._buckets.clear()
