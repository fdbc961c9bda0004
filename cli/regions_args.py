"""Shared --line/--zone/--events options of `detect --track` and `track`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path


def add_region_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--line", action="append", default=[], metavar="X1,Y1,X2,Y2[:NAME]",
                        help="count objects crossing this line, in/out by direction (repeatable); "
                             "'in' = crossing to the right-hand side walking from the first point to the second")
    parser.add_argument("--zone", action="append", default=[], metavar="X,Y,X,Y,X,Y,...[:NAME]",
                        help="a polygon zone: count inside and dwell time per track (repeatable)")
    parser.add_argument("--events", metavar="FILE", help="write the counting events to FILE (.csv or .json)")


def parse_regions(args: argparse.Namespace, inputs: Iterable[str | os.PathLike[str]] = ()):
    """The Regions from --line/--zone, after checking --events against ``inputs`` (the command's
    input files and other outputs), before any work starts. Raises RegionError/ValueError
    (UnsafeFileError) with a user message."""
    from engine.core.safe_files import check_output
    from engine.features.detect.counting import Regions, parse_line, parse_zone

    lines = tuple(parse_line(text, f"line{i + 1}") for i, text in enumerate(args.line))
    zones = tuple(parse_zone(text, f"zone{i + 1}") for i, text in enumerate(args.zone))
    if args.events:
        path = Path(args.events).expanduser()
        if path.suffix.lower() not in (".csv", ".json"):
            raise ValueError(f"--events {args.events}: give a .csv or .json file name")
        check_output(path, inputs, option="--events")
    return Regions(lines, zones)


def counts_summary(counts: dict) -> list[str]:
    """Human lines for the counts snapshot."""
    out = []
    for name, c in counts.get("lines", {}).items():
        per = ", ".join(f"{k} {v}" for k, v in sorted((c.get("in") or {}).items()))
        per_out = ", ".join(f"{k} {v}" for k, v in sorted((c.get("out") or {}).items()))
        out.append(f"line {name}: in {c['in_total']}" + (f" ({per})" if per else "")
                   + f", out {c['out_total']}" + (f" ({per_out})" if per_out else ""))
    for name, z in counts.get("zones", {}).items():
        entered = sum(z["entered"].values())
        out.append(f"zone {name}: {entered} entered, {z['inside']} inside at the end")
    return out


def report_counting(analyzer, args, lead: str = "") -> int:
    """After a run: write the counting events (``--events``) and, without ``--json``, print
    the tracks and counts, the line starting with ``lead``. Returns the exit code."""
    from cli.common import fail
    from engine.features.detect.counting import save_events

    if args.events:
        try:
            save_events(analyzer.counter.events, args.events)
        except (ValueError, OSError) as exc:
            return fail(exc)
    if not args.json:
        print(f"{lead}{analyzer.tracker.tracks_started} track(s)"
              + (f"; {len(analyzer.counter.events)} event(s) written to {args.events}" if args.events else ""))
        for line in counts_summary(analyzer.counter.snapshot()):
            print(line)
    return 0
