"""`track`: the tracker and counters on detections saved earlier by `detect --json`.

    python main.py track DETECTIONS.jsonl [--line X1,Y1,X2,Y2[:NAME]]... [--zone X,Y,...[:NAME]]...
        [--fps 30] [--json] [--events events.csv]

Input: one JSON object per line, as `detect --json` writes them ({"frame", "detections":
[{"class_id", "label", "score", "box"}]}); "-" reads stdin. So counting can be redone with
other lines without running the detector again. --json prints one object per frame:
{"frame", "time", "tracks": [{"track_id", "box", "class_id", "score"}], "counts"}.
Times are frame / --fps seconds.

Every line is checked before it reaches the tracker, and a bad one is one error naming
the file and the line: at most ``max_line_chars()`` characters (read no further, so a
huge line costs no memory), ``MAX_DETECTIONS_PER_FRAME`` detections, boxes of four finite
numbers within ``MAX_COORDINATE`` pixels, scores 0..1, class ids 0..``MAX_CLASS_ID``,
frame numbers 0..``MAX_FRAME`` that increase from line to line.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys

from cli.common import fail, number, print_json
from cli.regions_args import add_region_options, parse_regions, report_counting
from engine.core.errors import UserError

log = logging.getLogger(__name__)

# Limits of a `track` input; the tracker's own (MAX_DETECTIONS_PER_FRAME, MAX_CLASS_ID) are in
# engine.features.detect.tracking, imported only when a file is read (it loads scipy).
CHARS_PER_DETECTION = 200  # a line may hold this many characters per allowed detection; `detect --json` writes ~100
MAX_COORDINATE = 1e6  # pixels: far beyond any frame, and exact in float32
MAX_FRAME = 10**9  # a year of video at 30 fps
MIN_FPS, MAX_FPS = 0.01, 1000.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track", help="track and count objects in detections saved by `detect --json`",
        description="Run the tracker, counting lines and zones on a `detect --json` file (one object per frame).")
    parser.add_argument("input", metavar="DETECTIONS", help="a .jsonl file from `detect --json` ('-' for stdin)")
    add_region_options(parser)
    parser.add_argument("--fps", type=number(MIN_FPS, MAX_FPS), default=30.0,
                        help="frames per second of the original video (default 30)")
    parser.add_argument("--json", action="store_true", help="one JSON object per frame with its tracks and counts")
    parser.set_defaults(func=run)


class InputError(UserError, ValueError):
    pass


def max_line_chars() -> int:
    """The longest line read: CHARS_PER_DETECTION for each detection a frame may hold."""
    from engine.features.detect.tracking import MAX_DETECTIONS_PER_FRAME

    return MAX_DETECTIONS_PER_FRAME * CHARS_PER_DETECTION


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value, what: str, high: int) -> int:
    """``value`` as an int when it is a whole number from 0 to ``high``; ValueError otherwise."""
    if not _is_number(value) or value != int(value) or not 0 <= value <= high:
        raise ValueError(f"{what} {value!r}: give a whole number from 0 to {high:,}")
    return int(value)


def _detection(det, index: int, max_class_id: int) -> tuple[list[float], float, int, str]:
    """(box, score, class id, label) of one detection; ValueError names what is wrong."""
    where = f"detection {index + 1}"
    if not isinstance(det, dict):
        raise ValueError(f"{where} is not an object")
    box = det.get("box")
    if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise ValueError(f"{where}: \"box\" must be four numbers [x1, y1, x2, y2] (got {json.dumps(box)[:60]})")
    if not all(abs(v) <= MAX_COORDINATE for v in box) or box[0] > box[2] or box[1] > box[3]:
        raise ValueError(f"{where}: box {box} is not x1 <= x2, y1 <= y2 within {MAX_COORDINATE:,.0f} pixels")
    score = det.get("score")
    if not _is_number(score) or not 0.0 <= score <= 1.0:
        raise ValueError(f"{where}: \"score\" must be a number from 0 to 1 (got {score!r})")
    class_id = _whole(det.get("class_id"), f"{where}: \"class_id\"", max_class_id)
    label = det.get("label", "")
    if not isinstance(label, str):
        raise ValueError(f"{where}: \"label\" must be text")
    return [float(v) for v in box], float(score), class_id, label


def parse_line(text: str, default_frame: int):
    """(frame, boxes, scores, class_ids, labels) of one `detect --json` line; ValueError says why not.

    The number of detections is checked before any array is made.
    """
    import numpy as np

    from engine.features.detect.tracking import MAX_CLASS_ID, MAX_DETECTIONS_PER_FRAME

    try:
        record = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    dets = record.get("detections")
    if not isinstance(dets, list):
        raise ValueError("no \"detections\" list")
    if len(dets) > MAX_DETECTIONS_PER_FRAME:
        raise ValueError(f"{len(dets):,} detections in one frame; the limit is {MAX_DETECTIONS_PER_FRAME:,}")
    frame = _whole(record.get("frame", default_frame), "\"frame\"", MAX_FRAME)
    rows = [_detection(det, i, MAX_CLASS_ID) for i, det in enumerate(dets)]
    boxes = np.array([r[0] for r in rows], np.float32).reshape(-1, 4)
    scores = np.array([r[1] for r in rows], np.float32)
    classes = np.array([r[2] for r in rows], np.int64)
    labels = {r[2]: r[3] for r in rows}
    return frame, boxes, scores, classes, labels


def read_frames(path: str):
    """Yield (frame, boxes, scores, class_ids, labels) per line; InputError names file:line.

    The input is streamed one line at a time from a regular file (a FIFO or a device is
    refused; "-" reads a pipe on stdin); a line longer than ``max_line_chars()`` is refused
    before it is held whole, and each line is checked (``parse_line``) before any array is
    made. Frame numbers must increase.
    """
    from engine.core.regular_files import RegularFileError, iter_regular_lines, iter_stream_lines

    limit = max_line_chars()
    name = "stdin" if path == "-" else path
    if path == "-":
        lines = iter_stream_lines(sys.stdin.buffer, name, limit, what="detections")
    else:
        lines = iter_regular_lines(path, limit, what="detections file")
    previous = None
    try:
        for number, text in lines:
            if not text.strip():
                continue
            try:
                frame, boxes, scores, classes, labels = parse_line(text, number - 1)
            except ValueError as exc:
                raise InputError(f"{name}:{number}: not a `detect --json` line ({exc})") from None
            if previous is not None and frame <= previous:
                raise InputError(f"{name}:{number}: frame {frame} comes after frame {previous}; frame numbers must "
                                 "increase (several `detect --json` outputs joined? track each one on its own)")
            previous = frame
            yield frame, boxes, scores, classes, labels
    except RegularFileError as exc:
        raise InputError(f"{exc} (give the output of `detect VIDEO --json > FILE.jsonl`)") from None


def run(args: argparse.Namespace) -> int:
    from engine.features.detect.counting import RegionError
    from engine.features.detect.scene_analysis import SceneAnalyzer

    try:
        regions = parse_regions(args, inputs=[args.input] if args.input != "-" else [])
    except (RegionError, ValueError) as exc:
        return fail(str(exc))
    names: dict[int, str] = {}
    analyzer = SceneAnalyzer(regions)
    # The counter reads labels from this dict as they appear (no table as long as the largest id).
    analyzer.counter.class_names = names
    frames = 0
    try:
        for frame, boxes, scores, classes, labels in read_frames(args.input):
            names.update({k: v for k, v in labels.items() if v})
            tracked = analyzer.step(boxes, scores, classes, frame / args.fps, frame)
            frames += 1
            if args.json:
                tracks = [{k: r[k] for k in ("track_id", "box", "class_id", "score")}
                          for r in tracked.tracks.to_records()]
                print_json({"frame": frame, "time": round(frame / args.fps, 4), "tracks": tracks,
                            "counts": tracked.counts})
    except InputError as exc:
        return fail(str(exc))
    return report_counting(analyzer, args, f"{args.input}: {frames} frame(s), ")
