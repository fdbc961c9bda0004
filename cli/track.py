"""`track`: the tracker and counters on detections saved earlier by `detect --json`.

    python main.py track DETECTIONS.jsonl [--line X1,Y1,X2,Y2[:NAME]]... [--zone X,Y,...[:NAME]]...
        [--fps 30] [--json] [--events events.csv]

Input: one JSON object per line, as `detect --json` writes them ({"frame", "detections":
[{"class_id", "label", "score", "box"}]}); "-" reads stdin. So counting can be redone with
other lines without running the detector again. --json prints one object per frame:
{"frame", "time", "tracks": [{"track_id", "box", "class_id", "score"}], "counts"}.
Times are frame / --fps seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from cli import fail
from cli.regions_args import add_region_options, parse_regions, report_counting

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track", help="track and count objects in detections saved by `detect --json`",
        description="Run the tracker, counting lines and zones on a `detect --json` file (one object per frame).")
    parser.add_argument("input", metavar="DETECTIONS", help="a .jsonl file from `detect --json` ('-' for stdin)")
    add_region_options(parser)
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second of the original video (default 30)")
    parser.add_argument("--json", action="store_true", help="one JSON object per frame with its tracks and counts")
    parser.set_defaults(func=run)


class InputError(ValueError):
    pass


# One line holds one frame's detections (~100 bytes each): 4 MB is some 40,000 boxes. The
# file is read line by line, so its length does not matter, only the longest line's.
MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_CLASS_ID = 100_000  # class names are kept in a table indexed by class id


def read_frames(path: str):
    """Yield (frame, boxes, scores, class_ids, labels) per line; InputError names file:line.

    The input is streamed one line at a time (a line over MAX_LINE_BYTES is refused before
    it is held whole), from a regular file only (a FIFO or a device is refused; use "-" to
    pipe detections in).
    """
    import numpy as np

    from engine.core.regular_files import RegularFileError, iter_regular_lines, iter_stream_lines

    name = "stdin" if path == "-" else path
    if path == "-":
        lines = iter_stream_lines(sys.stdin.buffer, name, MAX_LINE_BYTES, what="detections")
    else:
        lines = iter_regular_lines(path, MAX_LINE_BYTES, what="detections file")
    try:
        for number, text in lines:
            if not text.strip():
                continue
            try:
                record = json.loads(text)
                dets = record["detections"]
                boxes = np.array([d["box"] for d in dets], np.float32).reshape(-1, 4)
                scores = np.array([d["score"] for d in dets], np.float32)
                classes = np.array([d["class_id"] for d in dets], np.int64)
                labels = {int(d["class_id"]): str(d.get("label", "")) for d in dets}
                frame = int(record.get("frame", number - 1))
            except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
                raise InputError(f"{name}:{number}: not a `detect --json` line ({type(exc).__name__}: "
                                 f"{str(exc)[:160]})") from None
            if classes.size and not (0 <= int(classes.min()) and int(classes.max()) <= MAX_CLASS_ID):
                raise InputError(f"{name}:{number}: a class_id outside 0..{MAX_CLASS_ID:,}; "
                                 "is it the output of `detect --json`?")
            yield frame, boxes, scores, classes, labels
    except RegularFileError as exc:
        message = str(exc)
        if "no such file" in message:
            message += " (give the output of `detect VIDEO --json > FILE.jsonl`)"
        elif "UTF-8" in message:
            message += " (give the output of `detect --json`)"
        raise InputError(message) from None


def run(args: argparse.Namespace) -> int:
    from engine.features.detect.counting import RegionError
    from engine.features.detect.scene_analysis import SceneAnalyzer

    try:
        regions = parse_regions(args)
        if not args.fps > 0:
            raise ValueError(f"--fps {args.fps}: must be positive")
    except (RegionError, ValueError) as exc:
        return fail(str(exc))
    names: dict[int, str] = {}
    analyzer = SceneAnalyzer(regions)
    frames = 0
    try:
        for frame, boxes, scores, classes, labels in read_frames(args.input):
            names.update({k: v for k, v in labels.items() if v})
            if names and len(analyzer.class_names) <= max(names):
                table = tuple(names.get(i, f"class {i}") for i in range(max(names) + 1))
                analyzer.class_names = analyzer.counter.class_names = table
            tracked = analyzer.step(boxes, scores, classes, frame / args.fps, frame)
            frames += 1
            if args.json:
                tracks = [{k: r[k] for k in ("track_id", "box", "class_id", "score")}
                          for r in tracked.tracks.to_records()]
                print(json.dumps({"frame": frame, "time": round(frame / args.fps, 4), "tracks": tracks,
                                  "counts": tracked.counts}), flush=True)
    except InputError as exc:
        return fail(str(exc))
    return report_counting(analyzer, args, f"{args.input}: {frames} frame(s), ")
