"""Detections to JSON / CSV: one frame (the CLI's ``--json`` lines) or a whole session
(every frame the Detect tab saw, with source, frame index and time: its export button)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.safe_files import atomic_write_text, json_text
from engine.features.detect.types import Detections

CSV_FIELDS = ("source", "frame", "class_id", "label", "score", "x1", "y1", "x2", "y2")


def detections_record(detections: Detections, source: str, frame: int) -> dict:
    """The CLI's per-image object: source, frame, width, height, detections[...]."""
    width, height = detections.frame_size
    return {"source": source, "frame": int(frame), "width": int(width), "height": int(height),
            "detections": [{k: r[k] for k in ("class_id", "label", "score", "box")} for r in detections.to_records()]}


def to_json(detections: Detections, source: str = "", frame: int = 0) -> str:
    return json_text(detections_record(detections, source, frame))


def to_csv(detections: Detections, source: str = "", frame: int = 0) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in detections.to_records():
        writer.writerow([source, frame, r["class_id"], r["label"], f"{r['score']:.5f}", *r["box"]])
    return buffer.getvalue()


def save_detections(detections: Detections, path: str | Path, source: str = "", frame: int = 0) -> Path:
    """Write CSV or JSON depending on the suffix (.csv / .json), atomically; raises ValueError otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = to_csv(detections, source, frame)
    elif suffix == ".json":
        text = json_text(detections_record(detections, source, frame), indent=2)
    else:
        raise ValueError(f"{path.name}: export as .csv or .json")
    return atomic_write_text(path, text)


# The session export: every frame the Detect tab saw, newest SESSION_FRAMES kept.
SESSION_FRAMES = 20_000
SESSION_FIELDS = ("source", "frame", "time", "time_base", "track_id", "class_id", "label", "score",
                  "x1", "y1", "x2", "y2")


@dataclass(frozen=True, eq=False)
class SeenFrame:
    """One frame's detections as the session export writes them.

    source: the source's display name. frame: its index in that source (frames delivered).
    time / time_base: seconds, "video" (into the file) or "wall" (Unix seconds, UTC, at
    capture; see ``engine.features.detect.task.event_time``). track_ids: (N,) int64 track
    id of each detection (-1 none), or None without tracking.
    """

    source: str
    frame: int
    time: float
    time_base: str
    detections: Detections
    track_ids: np.ndarray | None = None


def _session_record(seen: SeenFrame) -> dict:
    record = {"source": seen.source, "frame": int(seen.frame), "time": round(seen.time, 4),
              "time_base": seen.time_base}
    record.update(detections_record(seen.detections, seen.source, seen.frame))
    if seen.track_ids is not None:
        for det, tid in zip(record["detections"], seen.track_ids.tolist()):
            det["track_id"] = int(tid)
    return record


def save_session(frames: Iterable[SeenFrame], path: str | Path) -> tuple[int, int]:
    """Write every frame's detections to ``path``: CSV (.csv, one row per detection, columns
    ``SESSION_FIELDS``) or JSON (.json, one object per frame, frames without detections
    included), atomically. Returns (frames, detections) written; raises ValueError for
    another suffix."""
    path = Path(path)
    frames = list(frames)
    detections = sum(len(f.detections) for f in frames)
    suffix = path.suffix.lower()
    if suffix == ".json":
        atomic_write_text(path, json_text([_session_record(f) for f in frames], indent=1))
    elif suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(SESSION_FIELDS)
        for f in frames:
            ids = f.track_ids if f.track_ids is not None else np.full(len(f.detections), -1)
            for r, tid in zip(f.detections.to_records(), ids.tolist()):
                writer.writerow([f.source, f.frame, f"{f.time:.4f}", f.time_base, tid, r["class_id"], r["label"],
                                 f"{r['score']:.5f}", *r["box"]])
        atomic_write_text(path, buffer.getvalue())
    else:
        raise ValueError(f"{path.name}: export as .csv or .json")
    return len(frames), detections
