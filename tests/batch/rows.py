"""Helpers of the batch tests: videos written with OpenCV, and rows keyed by (source, frame)
from the sequential `detect --json` (the reference) and from the batch tables."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

import main as app_main
from engine.features.detect.backends.darknet.random_weights import synthetic_image

#: Every batch test runs the model at this size, so the tiny inputs stay fast.
SIZE = "160x128"


def write_video(path: Path, frames: int, seed: int, size=(160, 120), fps=10) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        writer.write(synthetic_image(size[1], size[0], seed=seed + i))
    writer.release()
    return path



def sequential_rows(capsys, path: Path, *extra: str) -> dict[tuple[str, int], list]:
    """(source, frame) -> [(class_id, label, score, box[, track_id])] from `detect PATH --json`, the reference."""
    code = app_main.main(["detect", str(path), "--model", "yolov4-tiny", "--size", SIZE, "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = {}
    for line in out.strip().splitlines():
        record = json.loads(line)
        rows[(str(path), record["frame"])] = [
            (d["class_id"], d["label"], d["score"], d["box"], *([d["track_id"]] if "track_id" in d else []))
            for d in record["detections"]]
    return rows


def batch_rows(detections, frames) -> dict[tuple[str, int], list]:
    """The same mapping from the batch tables (rounded as `detect --json` rounds)."""
    rows = {(s, f): [] for s, f in zip(frames.column("source").to_pylist(), frames.column("frame").to_pylist())}
    assert len(rows) == frames.num_rows, "a frame row appears twice"
    data = detections.to_pylist()
    for r in data:
        box = [round(r[k], 2) for k in ("x1", "y1", "x2", "y2")]
        item = (r["class_id"], r["label"], round(r["score"], 5), box, *([r["track_id"]] if "track_id" in r else []))
        rows[(r["source"], r["frame"])].append(item)
    return rows


#: How far a batch row may be from the CLI's: workers run one torch thread and the CLI
#: two, and on AVX-512 CPUs oneDNN splits a convolution's sums by thread count, so float32
#: results differ in their last bits, which can move the rounded 5th decimal of a score or
#: the 2nd of a box coordinate. Classes, labels, track ids and row counts stay exact.
SCORE_TOL = 5e-4
BOX_TOL = 0.25


def assert_same_rows(got: dict, expected: dict) -> None:
    """``got`` and ``expected`` (as ``batch_rows``/``sequential_rows`` give them) have the
    same frames and, in each, the same detections: each expected row matched to one got
    row of the same class, label and track id, score within SCORE_TOL and box within BOX_TOL."""
    assert sorted(got) == sorted(expected), "the batch run processed other frames than the CLI"
    for key, rows in expected.items():
        candidates = list(got[key])
        assert len(candidates) == len(rows), f"{key}: {len(candidates)} batch rows, {len(rows)} from the CLI"
        for row in rows:
            match = next((c for c in candidates if c[:2] == row[:2] and c[4:] == row[4:]
                          and abs(c[2] - row[2]) <= SCORE_TOL
                          and max(abs(a - b) for a, b in zip(c[3], row[3])) <= BOX_TOL), None)
            assert match is not None, f"{key}: no batch row matches the CLI's {row} among {candidates}"
            candidates.remove(match)
