"""The Detect tab's state and commands, without Qt (the tab is a view over this).

Holds: the chosen catalog entry, the live settings (thresholds, input size, class filter,
tracking, the lines and zones of the current source) as one frozen ``DetectSettings``,
the latest result, the counts history for the plot, the heat map, and the drawing of a
new line or zone (click, click / click... then finish).

Persistence goes through ``store``, an ``engine.core.store.SettingsStore`` (the app's
settings.ini in the GUI, a ``MemoryStore`` in tests). Lines and zones are saved per
source under "Detect/regions/<source name>"; source names of streams have their
credentials masked already, so nothing secret is written.

The view follows the events of ``engine.core.events.Controller`` (``task_changed``,
``settings_changed``, ``status``) and ``regions_changed``.

Coordinates: frame pixels (origin top-left, y down), like every box in the engine.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.core.events import Controller, EventField
from engine.core.store import SettingsStore
from engine.features.detect import user_models
from engine.features.detect.counting import CountEvent, CountLine, HeatMap, RegionError, Regions, Zone, save_events
from engine.features.detect.export import SESSION_FRAMES, SeenFrame, save_session
from engine.features.detect.options import PRECISION_CHOICES, DetectorOptions
from engine.features.detect.scene_analysis import TrackedFrame
from engine.features.detect.selection import find_followed, follow_row
from engine.features.detect.task import DetectionTask, DetectSettings, event_time, split_result
from engine.features.detect.types import Detections
from engine.models.catalog import Capabilities
from engine.runtime.precision import resolve_precision

log = logging.getLogger(__name__)

KEY = "Detect/"
SIZE_PRESETS = ("320x320", "416x416", "512x512", "608x608", "640x384", "384x640")
CLOSE_ZONE_PX = 12.0  # clicking this close to a zone's first corner closes it
HISTORY_S = 600.0


def parse_size(text: str) -> tuple[int, int] | None:
    """"416x416" -> (416, 416); None unless it is WIDTHxHEIGHT in positive whole pixels
    (which sizes a model takes is its capabilities' ``InputSize`` to say)."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    w, h = int(parts[0]), int(parts[1])
    return (w, h) if w > 0 and h > 0 else None


def _is_fraction(value: float) -> bool:
    return 0.0 <= value <= 1.0


def _renamed(counts: dict, group: str, old: str, new: str) -> dict:
    """A copy of a counts snapshot ({"lines": {name: ...}, "zones": {name: ...}}) with
    region ``old`` of ``group`` called ``new``."""
    if old not in counts.get(group, {}):
        return counts
    items = {(new if name == old else name): value for name, value in counts[group].items()}
    return {**counts, group: items}


@dataclass(frozen=True)
class Draft:
    """A line or zone being drawn: kind "line" or "zone", the corners clicked so far."""

    kind: str
    points: tuple[tuple[float, float], ...] = ()


class DetectController(Controller):
    """State and commands of the Detect tab.

    Events after a command changed something the view shows: ``settings_changed`` (a new
    live snapshot: the tab forwards it to the worker), ``task_changed`` (another model or
    precision: the task must be rebuilt), ``regions_changed`` (the lines, zones or the
    drawing changed), ``status(text)``.

    What may be chosen for the selected model (input size, grid view, NMS IoU, precision,
    tracking) is read from its entry's ``capabilities``, never from its name.
    ``device_precisions``: the precisions this device can run ("fp32" always; "bf16" and
    "int8" on CPUs with the kernels); the choices offered are those the model has too.
    """

    regions_changed = EventField[None]("the lines or zones, or the one being drawn, changed")

    def __init__(self, entries: list, store: SettingsStore, *, device_precisions: tuple[str, ...] = ("fp32",)) -> None:
        self.entries = list(entries)
        self.store = store
        # Your own models opened before (user_models); those gone are dropped with one note.
        mine, self.startup_note = user_models.restore(store, tuple(e.name for e in self.entries))
        self.entries += mine
        self.device_precisions = ("fp32",) + tuple(p for p in device_precisions if p != "fp32")
        name = store.get(KEY + "model", "")
        self.index = next((i for i, e in enumerate(self.entries) if e.name == name),
                          next((i for i, e in enumerate(self.entries) if e.default), 0))
        self.conf = store.get(KEY + "conf", 0.25, _is_fraction)
        self.iou = store.get(KEY + "iou", 0.45, _is_fraction)
        self.size_text = store.get(KEY + "size", "416x416")
        self.grid = store.get(KEY + "grid", False)
        # "precision" replaced the older "bf16" switch; a saved switch still counts.
        # "auto" (the fastest mode that agrees with fp32 here) is the default.
        self.precision = store.get(KEY + "precision", "bf16" if store.get(KEY + "bf16", False) else "auto",
                                   lambda p: p in PRECISION_CHOICES)
        self.tracking = store.get(KEY + "tracking", False)
        self.show_heat = store.get(KEY + "heat", False)
        self.heat_minutes = store.get(KEY + "heat_minutes", 5.0, lambda minutes: minutes > 0)
        self.class_filter: frozenset[int] | None = None
        self.source = ""
        self.regions = Regions()
        self.draft: Draft | None = None
        self.detections: Detections | None = None
        self.tracked: TrackedFrame | None = None
        self.events: list[CountEvent] = []
        self.history: deque[tuple[float, dict]] = deque()  # (time, counts snapshot)
        self.heat: HeatMap | None = None
        self.selected: int | None = None  # row in ``detections`` of the selected object
        # What the selection follows from result to result: ("track", id) while the object
        # has a track id, else ("box", xyxy, class id), its box in the latest result.
        self._follow: tuple | None = None
        self._rate_times: deque[float] = deque(maxlen=30)
        # Every frame seen this session (all sources), the newest SESSION_FRAMES: what
        # "Export session detections…" writes. Not cleared by a new source or model.
        self.session: deque[SeenFrame] = deque(maxlen=SESSION_FRAMES)

    # -- model --------------------------------------------------------------------------
    @property
    def entry(self):
        return self.entries[self.index] if self.entries else None

    @property
    def capabilities(self) -> Capabilities:
        """What the selected model can do (none when there is no model)."""
        entry = self.entry
        return entry.capabilities if entry is not None else Capabilities()

    @property
    def adjustable(self) -> bool:
        """The selected model takes another network input size."""
        return self.capabilities.adjustable_input

    def precision_choices(self) -> tuple[str, ...]:
        """The precisions offered: the model's that this device can run, "fp32" first,
        after "auto" when there is more than one."""
        shared = tuple(p for p in self.capabilities.precisions if p in self.device_precisions)
        return ("auto", *shared) if len(shared) > 1 else shared

    @property
    def effective_precision(self) -> str:
        """The chosen precision when the model and the device have it, else "auto" (or
        "fp32" for a model with that alone)."""
        choices = self.precision_choices()
        return self.precision if self.precision in choices else choices[0]

    @property
    def precision_label(self) -> str:
        """What runs, as shown: "fp32", "bf16", "int8" or e.g. "auto (fp32: no bf16 on this CPU)"."""
        return self.auto_label if self.effective_precision == "auto" else self.effective_precision

    @property
    def auto_label(self) -> str:
        """What "auto" means for the selected model here, e.g. "auto (fp32: no bf16 on this CPU)".
        It is offered on the CPU only (where the device runs more than fp32), and the
        detector resolves it from this CPU's flags when it is built, as here."""
        caps = self.capabilities
        return resolve_precision("auto", caps.precisions, automatic=caps.automatic_precisions).label

    def size_presets(self) -> tuple[str, ...]:
        """The preset sizes the selected model takes (none when its size is fixed)."""
        size = self.capabilities.input_size
        if size is None or not size.adjustable:
            return ()
        return tuple(p for p in SIZE_PRESETS if size.problem(parse_size(p)) is None)

    @property
    def grid_shown(self) -> bool:
        """The grid view (or a set predictor's queries: ``set_view``) is on and the selected model has one."""
        return self.grid and (self.capabilities.grid_view or self.capabilities.set_view)

    def select_model(self, index: int) -> None:
        if not 0 <= index < len(self.entries) or index == self.index:
            return
        self.index = index
        self.store.set(KEY + "model", self.entry.name)
        self.clear_results()
        self.task_changed.emit()

    def open_user_model(self, path: str | Path, names: str | Path | None = None) -> int:
        """Add your own model at ``path`` (``user_models.user_entry``; the same path again
        replaces its entry), select and remember it; returns its index. Raises the
        UserError family (``user_models.NamesNeeded``: ask for a names file) and then
        changes nothing."""
        entry = user_models.user_entry(path, names)
        index = user_models.add_to(self.entries, entry)
        entry = self.entries[index]
        user_models.remember(self.store, entry)
        if index == self.index:
            self.index = -1  # the same entry, rebuilt: a new task all the same
        self.select_model(index)
        self.status.emit(f"Opened your model {entry.name}: {len(entry.meta['categories'])} classes")
        return index

    def refresh_user_models(self) -> list[str]:
        """Add the remembered models not listed yet (another feature added them meanwhile,
        e.g. Teach's "Use in Detect"), after the others; returns their names."""
        added = user_models.not_listed(self.store, self.entries)
        self.entries += added
        return [entry.name for entry in added]

    def class_names(self) -> tuple[str, ...]:
        entry = self.entry
        return tuple(entry.meta.get("categories", ())) if entry is not None else ()

    def make_task(self, cache: Any) -> DetectionTask | None:
        """The live task for the selected, installed model (None when not installed)."""
        entry = self.entry
        if entry is None or not cache.is_installed(entry):
            return None
        # compile None: "auto", torch.compile in the background where the backend does
        # that and it pays (Darknet in bf16); the first frames run eagerly meanwhile.
        options = DetectorOptions(precision=self.effective_precision, compile=None)

        def factory(device):
            return entry.build(cache, device, options)

        return DetectionTask(factory, name=f"detect:{entry.name}", settings=self.settings())

    # -- live settings ----------------------------------------------------------------------
    @property
    def effective_size(self) -> tuple[int, int] | None:
        """The network input (width, height) the selected model runs at: the chosen size,
        or the model's default when that size was chosen for another model (or is fixed)."""
        input_size = self.capabilities.input_size
        if input_size is None:
            return None
        size = parse_size(self.size_text) if input_size.adjustable else None
        if size is None or input_size.problem(size) is not None:
            return tuple(input_size.default)
        return size

    def settings(self) -> DetectSettings:
        size = parse_size(self.size_text) if self.adjustable else None
        if size is not None and self.capabilities.input_size.problem(size) is not None:
            size = None  # a size saved for another model: this one runs at its default
        return DetectSettings(conf_threshold=self.conf, iou_threshold=self.iou, class_filter=self.class_filter,
                              input_size=size, tracking=self.tracking and self.capabilities.tracks,
                              regions=self.regions)

    def set_thresholds(self, conf: float, iou: float) -> None:
        self.conf, self.iou = float(conf), float(iou)
        self.store.set(KEY + "conf", self.conf)
        self.store.set(KEY + "iou", self.iou)
        self.settings_changed.emit()

    def set_size(self, text: str) -> bool:
        """Take a new network input size ("WIDTHxHEIGHT"); False (and a status) when the
        selected model does not take it."""
        input_size = self.capabilities.input_size
        size = parse_size(text)
        if input_size is None or not input_size.adjustable:
            name = self.entry.name if self.entry is not None else "this model"
            self.status.emit(f"{name} has a fixed input size: it cannot be changed")
            return False
        if size is None:
            self.status.emit(f"Input size '{text}' is not valid: use WIDTHxHEIGHT, {input_size.rule} "
                           f"(e.g. {input_size.example()})")
            return False
        problem = input_size.problem(size)
        if problem is not None:
            self.status.emit(f"Input size {problem}")
            return False
        self.size_text = text
        self.store.set(KEY + "size", text)
        self.settings_changed.emit()
        return True

    def set_class_filter(self, selected) -> None:
        self.class_filter = None if selected is None else frozenset(int(i) for i in selected)
        if self.class_filter is not None and not self.class_filter:
            self.status.emit("No class is selected: nothing will be detected")
        self.settings_changed.emit()

    def set_tracking(self, on: bool) -> None:
        self.tracking = bool(on)
        self.store.set(KEY + "tracking", self.tracking)
        self.tracked = None
        self.settings_changed.emit()

    def set_precision(self, precision: str) -> None:
        """Choose a precision (one of ``precision_choices``); a new model is built."""
        if precision not in self.precision_choices():
            self.status.emit(f"{precision} is not available for {self.entry.name if self.entry else 'this model'} "
                           f"here (choose {', '.join(self.precision_choices())})")
            return
        if precision == self.precision:
            return
        self.precision = precision
        self.store.set(KEY + "precision", precision)
        self.task_changed.emit()  # a new precision means a new model on the worker

    def set_grid(self, on: bool) -> None:
        self.grid = bool(on)
        self.store.set(KEY + "grid", self.grid)
        if on and self.selected is None and self.detections is not None and len(self.detections):
            self.select_row(0)

    def set_heat(self, on: bool, minutes: float | None = None) -> None:
        self.show_heat = bool(on)
        if minutes is not None and minutes > 0:
            self.heat_minutes = float(minutes)
            if self.heat is not None:
                self.heat.window_s = self.heat_minutes * 60.0
        self.store.set(KEY + "heat", self.show_heat)
        self.store.set(KEY + "heat_minutes", self.heat_minutes)

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
        text = self.store.get(self._regions_key(), "")
        try:
            self.regions = Regions.from_json(text) if text else Regions()
        except RegionError as exc:
            self.regions = Regions()
            self.status.emit(f"The saved lines/zones of {name} were ignored: {exc}")
        self.regions_changed.emit()
        self.settings_changed.emit()

    def _set_regions(self, regions: Regions) -> None:
        self.regions = regions
        self.store.set(self._regions_key(), regions.to_json())
        self.regions_changed.emit()
        self.settings_changed.emit()

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
        self.status.emit(f"Drawing a {kind}: {hint}. Esc cancels.")
        self.regions_changed.emit()

    def cancel_drawing(self) -> None:
        if self.draft is not None:
            self.draft = None
            self.regions_changed.emit()

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
            self.regions_changed.emit()
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
            self.status.emit(str(exc))
            self.regions_changed.emit()
            return
        self.draft = None
        self._set_regions(replace(self.regions, **{field_name: getattr(self.regions, field_name) + (item,)}))
        self.status.emit(f"Added {item.name}")

    def rename(self, kind: str, old: str, new: str) -> bool:
        new = new.strip()
        items = self.regions.lines if kind == "line" else self.regions.zones
        if not new or any(r.name == new for r in items):
            self.status.emit(f"'{new}' is empty or already used: give the {kind} another name")
            return False
        renamed = tuple(replace(r, name=new) if r.name == old else r for r in items)
        # The counts shown until the worker's next result (and the plot's history) are
        # keyed by name: move them to the new name so nothing reads 0 meanwhile.
        group = "lines" if kind == "line" else "zones"
        if self.tracked is not None:
            counts = _renamed(self.tracked.counts, group, old, new)
            inside = _renamed({"zones": self.tracked.inside}, group, old, new)["zones"]
            self.tracked = replace(self.tracked, counts=counts, inside=inside)
        self.history = deque((t, _renamed(snapshot, group, old, new)) for t, snapshot in self.history)
        self._set_regions(replace(self.regions, **{group: renamed}))
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
        self.selected = self._follow_selection()
        if self._follow is None and self.grid_shown and len(detections):
            self.select_row(0)  # nothing chosen yet: the grid explains the most confident box
        now = frame.timestamp
        if tracked is not None:
            self.events.extend(tracked.events)
            self.history.append((now, tracked.counts))
            while self.history and now - self.history[0][0] > HISTORY_S:
                self.history.popleft()
        if self.heat is None or (self.heat.width, self.heat.height) != (frame.width, frame.height):
            self.heat = HeatMap(frame.width, frame.height, window_s=self.heat_minutes * 60.0)
        self.heat.add(detections.boxes, now)
        seconds, time_base = event_time(frame)
        self.session.append(SeenFrame(frame.source or self.source, frame.index, seconds, time_base, detections,
                                      None if tracked is None else tracked.track_ids))
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
        self._follow = None
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
        self.select_row(int(areas.argmin()))
        return self.selected

    def select_row(self, row: int | None) -> None:
        """Select detection ``row`` of the latest result (None or -1: nothing). From then on
        the selection follows that object, not the row: its track id while it has one,
        else the best-overlapping box of each next result (``_follow_selection``)."""
        d = self.detections
        if row is None or d is None or not 0 <= row < len(d):
            self.selected, self._follow = None, None
            return
        self.selected = int(row)
        self._remember(self.selected)

    def _remember(self, row: int) -> None:
        self._follow = follow_row(self.detections, self.tracked, row)

    def selected_track_row(self) -> int | None:
        """The row in ``tracked.tracks`` of the selected object (None when it has no track)."""
        if self.tracked is None or self._follow is None or self._follow[0] != "track":
            return None
        rows = np.flatnonzero(self.tracked.tracks.ids == self._follow[1])
        return int(rows[0]) if len(rows) else None

    def _follow_selection(self) -> int | None:
        """The row of the followed object in the new result (None: not in this one);
        see selection.find_followed."""
        row, self._follow = find_followed(self._follow, self.detections, self.tracked)
        return row

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

    def export_session(self, path: str | Path) -> tuple[int, int]:
        """Write the detections of every frame seen this session (``session``); returns
        (frames, detections) written (raises ValueError/OSError)."""
        return save_session(self.session, path)

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

