"""Detections to JSON / CSV (CLI ``--json`` lines and the tab's export button)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

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
