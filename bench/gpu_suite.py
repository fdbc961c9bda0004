#!/usr/bin/env python3
"""Every benchmark on one device, one table: the GPU run of bench/ in under 8 minutes.

    python bench/gpu_suite.py                     # --device cuda, the GPU-sized settings
    python bench/gpu_suite.py --device cpu        # the same suite with small settings (checks it works)
    python bench/gpu_suite.py --only detect,faces --budget 300

Each benchmark script runs as its own process with ``--device DEV`` (so one crash or
out-of-memory does not end the suite, and each applies the thread policy itself),
under a time limit taken from what is left of ``--budget`` seconds (default 480). On
CUDA the detectors run in float16 (YoloDetector's default there) and bench/detect.py
adds model-only batch throughput; elsewhere each script's own precision. The numbers
each script prints are picked out of its output into one table: benchmark, measure,
value, and the command that produced it. bench/pipeline.py is left out: its model is a
fixed CPU cost, the same on every device.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bench:
    """One script run: its arguments per device kind and the lines worth a table row."""

    name: str
    script: str
    gpu_args: tuple[str, ...]
    cpu_args: tuple[str, ...]
    # (measure label, regex with one group: the value as printed)
    measures: tuple[tuple[str, str], ...] = field(default_factory=tuple)


SUITE = (
    Bench("detect yolov4-tiny 416", "detect.py",
          ("--no-opencv", "--frames", "30", "--rounds", "3", "--batch", "32", "--pipeline"),
          ("--frames", "6", "--rounds", "1", "--variants", "fp32,int8"),
          (("ours end to end ms/frame", r"ours (\w+ end to end)\s+median\s+([\d.]+) ms"),
           ("network only ms/frame", r"ours (\w+ model)\s+median\s+([\d.]+) ms"),
           ("OpenCV end to end ms/frame", r"(OpenCV end to end)\s+median\s+([\d.]+) ms"),
           ("ratio ours/OpenCV", r"ratio ours/OpenCV (\w+ end to end)\s*: ([\d.]+)"),
           ("batch throughput frames/s", r"model-only throughput, (batch \d+, [\w.]+): (\d+) frames/s"),
           ("live latency median ms", r"live pipeline at 30 fps: capture-to-result latency median ([\d.]+) ms"),
           ("agreement with fp32", r"(\w+)\s*: recall ([\d.]+), precision"))),
    Bench("detect yolov4 (608; CPU 320)", "detect.py",
          ("--model", "yolov4", "--size", "608x608", "--no-opencv", "--frames", "20", "--rounds", "2", "--batch", "8"),
          ("--model", "yolov4", "--size", "320x320", "--no-opencv", "--frames", "2", "--rounds", "1"),
          (("ours end to end ms/frame", r"ours (\w+ end to end)\s+median\s+([\d.]+) ms"),
           ("batch throughput frames/s", r"model-only throughput, (batch \d+, [\w.]+): (\d+) frames/s"))),
    Bench("faces", "faces.py",
          ("--sizes", "100000,1000000", "--dims", "512", "--frames", "20", "--embedders", "lbp,facenet-random"),
          # The dlib comparison is no row of this table, and on a CPU dlib needs seconds a frame.
          ("--sizes", "1000", "--dims", "128", "--frames", "3", "--queries", "5", "--embedders", "lbp", "--skip-dlib"),
          (("search ms", r"search top-1\s+([\d,]+ x \d+-d) on \w+: median ([\d.]+) ms"),
           ("recognition fps", r"recognition (\S+\s+\d+ face\(s\)).*?([\d.]+) fps"))),
    Bench("style", "style.py",
          ("--size", "512", "--steps", "100", "--live-frames", "30"),
          ("--size", "96", "--steps", "5", "--live-size", "160x120", "--live-frames", "2"),
          (("photo mode s (ours)", r"ours\s*:\s*([\d.]+) s"),
           ("photo mode s (reference)", r"reference\s*:\s*([\d.]+) s"),
           ("live AdaIN fps", r"live AdaIN: (\d+x\d+).*?: ([\d.]+) fps"))),
    Bench("feature maps resnet18 layer2", "inspect_live.py",
          ("--frames", "30", "--rounds", "3"),
          ("--frames", "4", "--rounds", "1"),
          (("activations fps", r"activations fps: ([\d.]+)"),
           ("per second", r"^(\w[\w -]*) ms/frame: [\d.]+, per second: ([\d.]+)"))),
)


def pick(bench: Bench, output: str) -> list[tuple[str, str]]:
    """(measure, value) rows found in a script's output; a labelled group goes in front."""
    rows: list[tuple[str, str]] = []
    for label, pattern in bench.measures:
        for match in re.finditer(pattern, output, flags=re.MULTILINE):
            groups = match.groups()
            measure = label if len(groups) == 1 else f"{label} [{groups[0].strip()}]"
            rows.append((measure, groups[-1]))
    return rows


def time_limit(left: float, scripts_left: int) -> float:
    """Seconds one script may run: a generous share of what is ``left`` of the budget among
    the ``scripts_left`` still to run (this one included), at least 10, never more than
    ``left`` (the limit covers the whole process: start-up and model loading too)."""
    return min(left, max(10.0, left / scripts_left * 1.5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, cpu, mps")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole suite (default 480 = 8 min)")
    parser.add_argument("--only", help="comma-separated benchmark scripts to run (detect, faces, style, inspect_live)")
    parser.add_argument("--threads", help="passed on to every script")
    args = parser.parse_args()

    gpu = args.device.startswith("cuda")
    chosen = [b for b in SUITE if not args.only or Path(b.script).stem in {s.strip() for s in args.only.split(",")}]
    start = time.monotonic()
    table: list[tuple[str, str, str]] = []
    notes: list[str] = []
    for i, bench in enumerate(chosen):
        left = args.budget - (time.monotonic() - start)
        if left < 10:
            notes.append(f"{bench.name}: not run, the {args.budget:.0f} s budget was spent")
            continue
        limit = time_limit(left, len(chosen) - i)
        cmd = [sys.executable, str(ROOT / "bench" / bench.script), "--device", args.device,
               *(bench.gpu_args if gpu else bench.cpu_args)]
        if args.threads:
            cmd += ["--threads", args.threads]
        shown = " ".join(["bench/" + bench.script, *cmd[3:]])
        t0 = time.monotonic()
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=limit,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)))
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            rows = pick(bench, out)
            table += [(bench.name, m, v) for m, v in rows]
            notes.append(f"{bench.name}: stopped after {limit:.0f} s ({shown})")
            continue
        seconds = time.monotonic() - t0
        rows = pick(bench, done.stdout)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            notes.append(f"{bench.name}: exit {done.returncode}: {last}")
        elif not rows:
            notes.append(f"{bench.name}: ran, but printed nothing this table knows ({shown})")
        table += [(bench.name, m, v) for m, v in rows]
        table.append((bench.name, "wall time of the script s", f"{seconds:.1f}"))
        print(f"[{time.monotonic() - start:5.0f} s] {shown}: {seconds:.1f} s", flush=True)

    width_b = max([len("benchmark")] + [len(r[0]) for r in table])
    width_m = max([len("measure")] + [len(r[1]) for r in table])
    print(f"\ndevice {args.device}, total {time.monotonic() - start:.0f} s (budget {args.budget:.0f} s)")
    print(f"| {'benchmark':<{width_b}} | {'measure':<{width_m}} | value |")
    print(f"|{'-' * (width_b + 2)}|{'-' * (width_m + 2)}|-------|")
    for name, measure, value in table:
        print(f"| {name:<{width_b}} | {measure:<{width_m}} | {value} |")
    for note in notes:
        print(f"note: {note}")
    return 0 if table else 1


if __name__ == "__main__":
    sys.exit(main())
