"""The Detect tab's state and commands, without Qt (the tab is a view over this).

Holds: the chosen catalog entry, the live settings (thresholds, input size, class filter,
tracking, the lines and zones of the current source) as one frozen ``DetectSettings``,
the latest result, the counts history for the plot, the heat map, and the drawing of a
new line or zone (click, click / click... then finish).

Persistence goes through ``store``, any object with ``value(key, default)`` and
``setValue(key, value)`` (QSettings in the app, a dict wrapper in tests). Lines and zones
are saved per source under "Detect/regions/<source name>"; source names of streams have
their credentials masked already, so nothing secret is written.

Coordinates: frame pixels (origin top-left, y down), like every box in the engine.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.features.detect.counting import CountEvent, CountLine, HeatMap, RegionError, Regions, Zone, save_events
from engine.features.detect.scene_analysis import TrackedFrame
from engine.features.detect.task import DetectionTask, DetectSettings, split_result
from engine.features.detect.types import Detections

log = logging.getLogger(__name__)

KEY = "Detect/"
SIZE_PRESETS = ("320x320", "416x416", "512x512", "608x608", "640x384", "384x640")
CLOSE_ZONE_PX = 12.0  # clicking this close to a zone's first corner closes it
HISTORY_S = 600.0


def parse_size(text: str) -> tuple[int, int] | None:
    """"416x416" -> (416, 416); None unless both are positive multiples of 32."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    w, h = int(parts[0]), int(parts[1])
    return (w, h) if w >= 32 and h >= 32 and w % 32 == 0 and h % 32 == 0 else None


def _as_bool(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class Draft:
    """A line or zone being drawn: kind "line" or "zone", the corners clicked so far."""

    kind: str
    points: tuple[tuple[float, float], ...] = ()


class DetectController:
    """State and commands of the Detect tab.

    ``on_change(what)`` is called after a command changed something the view shows:
    "settings" (a new live snapshot: the tab forwards it to the worker), "model" (the task
    must be rebuilt), "regions", "result", "status:<text>".
    """

    def __init__(self, entries: list, store: Any, *, fast_possible: bool = False,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.entries = list(entries)
        self.store = store
        self.fast_possible = fast_possible
        self.on_change = on_change or (lambda what: None)
        name = str(store.value(KEY + "model", ""))
        self.index = next((i for i, e in enumerate(self.entries) if e.name == name),
                          next((i for i, e in enumerate(self.entries) if e.default), 0))
        self.conf = float(store.value(KEY + "conf", 0.25))
        self.iou = float(store.value(KEY + "iou", 0.45))
        self.size_text = str(store.value(KEY + "size", "416x416"))
        self.grid = _as_bool(store.value(KEY + "grid", "false"))
        self.bf16 = fast_possible and _as_bool(store.value(KEY + "bf16", "false"))
        self.tracking = _as_bool(store.value(KEY + "tracking", "false"))
        self.show_heat = _as_bool(store.value(KEY + "heat", "false"))
        self.heat_minutes = float(store.value(KEY + "heat_minutes", 5.0))
        self.class_filter: frozenset[int] | None = None
        self.source = ""
        self.regions = Regions()
        self.draft: Draft | None = None
        self.detections: Detections | None = None
        self.tracked: TrackedFrame | None = None
        self.events: list[CountEvent] = []
        self.history: deque[tuple[float, dict]] = deque()  # (time, counts snapshot)
        self.heat: HeatMap | None = None
        self.selected: int | None = None
        self._rate_times: deque[float] = deque(maxlen=30)

    # -- model --------------------------------------------------------------------------
    @property
    def entry(self):
        return self.entries[self.index] if self.entries else None

    @property
    def adjustable(self) -> bool:
        """The model takes another input size, the grid view and the bf16 mode (YOLO)."""
        entry = self.entry
        return bool(entry is not None and entry.meta.get("adjustable_input"))

    def select_model(self, index: int) -> None:
        if not 0 <= index < len(self.entries) or index == self.index:
            return
        self.index = index
        self.store.setValue(KEY + "model", self.entry.name)
        self.clear_results()
        self.on_change("model")

    def class_names(self) -> tuple[str, ...]:
        entry = self.entry
        return tuple(entry.meta.get("categories", ())) if entry is not None else ()

    def make_task(self, cache: Any) -> DetectionTask | None:
        """The live task for the selected, installed model (None when not installed)."""
        entry = self.entry
        if entry is None or not cache.is_installed(entry):
            return None
        bf16 = self.bf16 and self.adjustable

        def factory(device):
            return entry.builder(entry, cache, device, bf16=bf16)

        return DetectionTask(factory, name=f"detect:{entry.name}", settings=self.settings())

    # -- live settings ----------------------------------------------------------------------
    def settings(self) -> DetectSettings:
        size = parse_size(self.size_text) if self.adjustable else None
        return DetectSettings(conf_threshold=self.conf, iou_threshold=self.iou, class_filter=self.class_filter,
                              input_size=size, tracking=self.tracking, regions=self.regions)

    def set_thresholds(self, conf: float, iou: float) -> None:
        self.conf, self.iou = float(conf), float(iou)
        self.store.setValue(KEY + "conf", self.conf)
        self.store.setValue(KEY + "iou", self.iou)
        self.on_change("settings")

    def set_size(self, text: str) -> bool:
        if parse_size(text) is None:
            self.on_change(f"status:Input size '{text}' is not valid: use WIDTHxHEIGHT, multiples of 32 (e.g. 416x416)")
            return False
        self.size_text = text
        self.store.setValue(KEY + "size", text)
        self.on_change("settings")
        return True

    def set_class_filter(self, selected) -> None:
        self.class_filter = None if selected is None else frozenset(int(i) for i in selected)
        if self.class_filter is not None and not self.class_filter:
            self.on_change("status:No class is selected: nothing will be detected")
        self.on_change("settings")

    def set_tracking(self, on: bool) -> None:
        self.tracking = bool(on)
        self.store.setValue(KEY + "tracking", self.tracking)
        self.tracked = None
        self.on_change("settings")

    def set_fast(self, on: bool) -> None:
        self.bf16 = bool(on) and self.fast_possible
        self.store.setValue(KEY + "bf16", self.bf16)
        self.on_change("model")  # a new precision means a new model on the worker

    def set_grid(self, on: bool) -> None:
        self.grid = bool(on)
        self.store.setValue(KEY + "grid", self.grid)
        if on and self.selected is None and self.detections is not None and len(self.detections):
            self.selected = 0

    def set_heat(self, on: bool, minutes: float | None = None) -> None:
        self.show_heat = bool(on)
        if minutes is not None and minutes > 0:
            self.heat_minutes = float(minutes)
            if self.heat is not None:
                self.heat.window_s = self.heat_minutes * 60.0
        self.store.setValue(KEY + "heat", self.show_heat)
        self.store.setValue(KEY + "heat_minutes", self.heat_minutes)

    # -- lines and zones ------------------------------------------------------------------------
    def _regions_key(self) -> str:
        return KEY + "regions/" + (self.source or "default").replace("/", "|")

    def set_source(self, name: str) -> None:
        """A new source is shown: load its lines and zones (a bad saved entry is reported, not fatal)."""
        if name == self.source:
            return
        self.source = name
        self.draft = None
        self.clear_results()
        text = str(self.store.value(self._regions_key(), "") or "")
        try:
            self.regions = Regions.from_json(text) if text else Regions()
        except RegionError as exc:
            self.regions = Regions()
            self.on_change(f"status:The saved lines/zones of {name} were ignored: {exc}")
        self.on_change("regions")
        self.on_change("settings")

    def _set_regions(self, regions: Regions) -> None:
        self.regions = regions
        self.store.setValue(self._regions_key(), regions.to_json())
        self.on_change("regions")
        self.on_change("settings")

    def _free_name(self, kind: str) -> str:
        taken = {r.name for r in (self.regions.lines if kind == "line" else self.regions.zones)}
        n = 1
        while f"{kind} {n}" in taken:
            n += 1
        return f"{kind} {n}"

    def begin(self, kind: str) -> None:
        """Start drawing a "line" (two clicks) or a "zone" (clicks; back on the first corner, or finish)."""
        self.draft = Draft(kind)
        hint = ("click the two ends of the line" if kind == "line" else
                "click the corners; click the first corner again (or Finish) to close")
        self.on_change(f"status:Drawing a {kind}: {hint}. Esc cancels.")
        self.on_change("regions")

    def cancel_drawing(self) -> None:
        if self.draft is not None:
            self.draft = None
            self.on_change("regions")

    def click(self, x: float, y: float) -> bool:
        """A click on the picture (frame pixels); True when it was used for drawing."""
        draft = self.draft
        if draft is None:
            return False
        point = (float(x), float(y))
        if draft.kind == "zone" and len(draft.points) >= 3 and math.dist(point, draft.points[0]) <= CLOSE_ZONE_PX:
            self.finish_zone()
            return True
        self.draft = replace(draft, points=draft.points + (point,))
        if draft.kind == "line" and len(self.draft.points) == 2:
            self._commit(lambda: CountLine(self._free_name("line"), *self.draft.points), "lines")
        else:
            self.on_change("regions")
        return True

    def finish_zone(self) -> None:
        if self.draft is None or self.draft.kind != "zone":
            return
        self._commit(lambda: Zone(self._free_name("zone"), self.draft.points), "zones")

    def _commit(self, make: Callable[[], Any], field_name: str) -> None:
        try:
            item = make()
        except RegionError as exc:
            self.draft = None
            self.on_change(f"status:{exc}")
            self.on_change("regions")
            return
        self.draft = None
        self._set_regions(replace(self.regions, **{field_name: getattr(self.regions, field_name) + (item,)}))
        self.on_change(f"status:Added {item.name}")

    def rename(self, kind: str, old: str, new: str) -> bool:
        new = new.strip()
        items = self.regions.lines if kind == "line" else self.regions.zones
        if not new or any(r.name == new for r in items):
            self.on_change(f"status:'{new}' is empty or already used: give the {kind} another name")
            return False
        renamed = tuple(replace(r, name=new) if r.name == old else r for r in items)
        self._set_regions(replace(self.regions, **{"lines" if kind == "line" else "zones": renamed}))
        return True

    def delete(self, kind: str, name: str) -> None:
        field_name = "lines" if kind == "line" else "zones"
        kept = tuple(r for r in getattr(self.regions, field_name) if r.name != name)
        self._set_regions(replace(self.regions, **{field_name: kept}))

    # -- results ---------------------------------------------------------------------------------
    def on_result(self, result) -> bool:
        """Take a TaskResult; False when it is not a detection result."""
        detections, tracked = split_result(result.result)
        if detections is None:
            return False
        frame = result.frame
        if frame.source and frame.source != self.source:
            self.set_source(frame.source)
        self.detections = detections
        self.tracked = tracked
        if self.selected is not None and self.selected >= len(detections):
            self.selected = None
        if self.selected is None and self.grid and len(detections):
            self.selected = 0
        now = frame.timestamp
        if tracked is not None:
            self.events.extend(tracked.events)
            self.history.append((now, tracked.counts))
            while self.history and now - self.history[0][0] > HISTORY_S:
                self.history.popleft()
        if self.heat is None or (self.heat.width, self.heat.height) != (frame.width, frame.height):
            self.heat = HeatMap(frame.width, frame.height, window_s=self.heat_minutes * 60.0)
        self.heat.add(detections.boxes, now)
        self._rate_times.append(time.monotonic())
        return True

    @property
    def result_rate(self) -> float:
        """Results per second over the last ~30 results (0 when unknown)."""
        t = self._rate_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 2 and t[-1] > t[0] else 0.0

    def clear_results(self) -> None:
        self.detections = None
        self.tracked = None
        self.selected = None
        self.events.clear()
        self.history.clear()
        self.heat = None
        self._rate_times.clear()

    def select_at(self, x: float, y: float) -> int | None:
        """Select the smallest detection containing frame point (x, y); returns its row."""
        d = self.detections
        if d is None or not len(d):
            return None
        b = d.boxes
        inside = (b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3])
        if not inside.any():
            return None
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        areas = np.where(inside, areas, np.inf)
        self.selected = int(areas.argmin())
        return self.selected

    def count_rows(self) -> list[tuple[str, str, str, str]]:
        """Rows of the counts table: (kind, name, what, value)."""
        rows = []
        counts = self.tracked.counts if self.tracked is not None else {}
        for line in self.regions.lines:
            c = counts.get("lines", {}).get(line.name, {"in": {}, "out": {}, "in_total": 0, "out_total": 0})
            rows.append(("line", line.name, "in / out", f"{c['in_total']} / {c['out_total']}"))
            for label in sorted(set(c["in"]) | set(c["out"])):
                rows.append(("line", line.name, label, f"{c['in'].get(label, 0)} / {c['out'].get(label, 0)}"))
        for zone in self.regions.zones:
            z = counts.get("zones", {}).get(zone.name, {"inside": 0, "entered": {}})
            inside = self.tracked.inside.get(zone.name, {}) if self.tracked is not None else {}
            longest = max(inside.values(), default=0.0)
            rows.append(("zone", zone.name, "inside now", str(z["inside"])))
            rows.append(("zone", zone.name, "longest stay now", f"{longest:.1f} s"))
            for label, n in sorted(z["entered"].items()):
                rows.append(("zone", zone.name, f"{label} entered", str(n)))
        return rows

    def export_events(self, path: str | Path) -> int:
        """Write the events so far; returns how many (raises ValueError/OSError)."""
        save_events(self.events, path)
        return len(self.events)

    def counts_series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Plot data: curve name -> (seconds before the newest sample, values)."""
        if not self.history:
            return {}
        t_last = self.history[-1][0]
        t = np.array([h[0] - t_last for h in self.history])
        series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for line in self.regions.lines:
            for d in ("in", "out"):
                v = [h[1].get("lines", {}).get(line.name, {}).get(f"{d}_total", np.nan) for h in self.history]
                series[f"{line.name} {d}"] = (t, np.asarray(v, float))
        for zone in self.regions.zones:
            v = [h[1].get("zones", {}).get(zone.name, {}).get("inside", np.nan) for h in self.history]
            series[f"{zone.name} inside"] = (t, np.asarray(v, float))
        return series

    def heat_image(self) -> np.ndarray | None:
        """(rows, cols) float32 0..1, or None when off or empty."""
        if not self.show_heat or self.heat is None:
            return None
        image = self.heat.image()
        return image if image.max() > 0 else None


class DictStore:
    """A dict with the QSettings calls the controller uses (for tests and the CLI)."""

    def __init__(self, data: dict | None = None) -> None:
        self.data = dict(data or {})

    def value(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def setValue(self, key: str, value: Any) -> None:  # noqa: N802 (QSettings' name)
        self.data[key] = value

    def dumps(self) -> str:
        return json.dumps(self.data)
