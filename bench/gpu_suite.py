#!/usr/bin/env python3
"""Every benchmark on one device, one table: the GPU run of bench/ in about 10 minutes.

    python bench/gpu_suite.py                     # --device cuda, the GPU-sized settings
    python bench/gpu_suite.py --device cpu        # the same suite with small settings (checks it works)
    python bench/gpu_suite.py --only detect,faces --budget 300
    python bench/gpu_suite.py --only compiled,yolox  # benchmarks whose name has these words
    python bench/gpu_suite.py --list              # what would run, with its expected seconds

Each benchmark script runs as its own process with ``--device DEV`` (so one crash or
out-of-memory does not end the suite, and each applies the thread policy itself),
under a time limit: its share of what is left of ``--budget`` seconds, in proportion to
its expected seconds on this kind of device (``Bench.gpu_s`` / ``cpu_s``, estimates, see
below), times 1.5. The budget defaults to 600 s on CUDA; elsewhere to 1.5 x the expected
seconds of the small settings (about 17 minutes: measured on 2 cores that other jobs
loaded 4x over; the CPU run checks that everything works, its numbers mean little).
What runs:

- bench/detect.py: yolov4-tiny 416 against OpenCV (on CUDA with the live pipeline and
  model-only batch throughput), yolov4 608; yolov4-tiny eager against torch.compile
  (``--variants fp32,fp32-compiled``: on CUDA both in float16, YoloDetector's default
  there; the compile is waited for, its seconds printed, and compiled/eager ratios of the
  network alone and end to end); the newer families through bench/detect_variants.py,
  end to end and network alone: YOLOX (yolox-tiny, eager and compiled, on CUDA;
  yolox-nano on the CPU), D-FINE N and RT-DETR R18 (seeded random weights);
- bench/faces.py, bench/style.py, bench/inspect_live.py (feature maps);
- bench/segment.py (person mode against torchvision's model run plainly),
  bench/segment_instances.py (Mask R-CNN, Keypoint R-CNN);
- bench/teach_detect.py: training YOLOX nano from scratch at the default length (the
  claim: about a minute on a GPU), with held-out mAP;
- bench/batch.py: `batch detect` (one worker with a GPU) against a loop over `detect`.

bench/pipeline.py is left out: its model is a fixed CPU cost, the same on every device.
The budget is 600 s rather than 8 minutes because the compiles (inductor's first on a
fresh machine, no cache: yolov4-tiny, YOLOX tiny), the training and Ray's start-up take
about 4 minutes by themselves; the expected seconds of the GPU settings add up to about
580 s (``--list`` shows them; a test keeps the sum within the default budget). A script
that runs out of its share is stopped (with what it started), what it printed so far
still counts, and a "note:" says so. The numbers each script prints are picked out of its
output into one table: benchmark, measure, value; the commands are printed as they run.
``--outputs DIR`` keeps each script's own output and the table so far (DIR/table.md,
rewritten after every script). On a machine whose commands are cut at 10 minutes, pass
``--budget 540 --outputs $OUT`` so the suite ends first and a cut still leaves the table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Seconds for the whole suite unless --budget says otherwise (see the docstring for why 10 minutes).
BUDGET_S = 600.0


@dataclass(frozen=True)
class Bench:
    """One script run: its arguments per device kind, the lines worth a table row, and
    the seconds the whole process is expected to take with each kind's arguments
    (estimates: CPU ones measured on 2 shared cores, GPU ones scaled from them; they
    set each script's share of the budget)."""

    name: str
    script: str
    gpu_args: tuple[str, ...]
    cpu_args: tuple[str, ...]
    # (measure label, regex whose last group is the value as printed; the groups before
    # it, if any, are joined into a [qualifier] of the label)
    measures: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    gpu_s: float = 30.0
    cpu_s: float = 30.0
    threads: bool = True  # the script takes --threads


#: bench/detect.py's lines of ours: "ours TAG end to end|model  median X ms/frame" (TAG: fp16, fp32-compiled, ...)
OURS_E2E = ("ours end to end ms/frame", r"ours ([\w-]+) end to end\s+median\s+([\d.]+) ms")
OURS_MODEL = ("network only ms/frame", r"ours ([\w-]+) model\s+median\s+([\d.]+) ms")
BATCH = ("batch throughput frames/s", r"model-only throughput, (batch \d+, [\w.]+): ([\d.]+) frames/s")
#: bench/detect_variants.py's lines: "  VARIANT (runs PRECISION): X ms/frame end to end,  Y ms network (...)"
FAMILY = (("end to end ms/frame", r"^\s+([\w-]+)\s+\(runs \w+\s*\):\s+([\d.]+) ms/frame end to end"),
          ("network only ms/frame", r"^\s+([\w-]+)\s+\(runs \w+\s*\):.*?([\d.]+) ms network"))
FAMILY_COMPILED = (*FAMILY, ("build and compile s", r"^\s+([\w-]+-compiled): built and compiled in ([\d.]+) s"))
FRAMES = ("--frames", "30", "--rounds", "3")
FEW = ("--frames", "2", "--rounds", "1")

SUITE = (
    Bench("detect yolov4-tiny 416", "detect.py",
          ("--no-opencv", *FRAMES, "--batch", "32", "--pipeline"),
          ("--frames", "6", "--rounds", "1", "--variants", "fp32,int8", "--batch", "2", "--pipeline"),
          (OURS_E2E, OURS_MODEL,
           ("OpenCV end to end ms/frame", r"OpenCV end to end\s+median\s+([\d.]+) ms"),
           ("ratio ours/OpenCV end to end", r"ratio ours/OpenCV ([\w-]+) end to end\s*: ([\d.]+)"),
           BATCH,
           ("live latency median ms", r"live pipeline at 30 fps: capture-to-result latency median ([\d.]+) ms"),
           ("agreement with fp32: recall", r"^\s+([\w-]+)\s*: recall ([\d.]+), precision")),
          gpu_s=35, cpu_s=55),
    Bench("detect yolov4 (608; CPU 320)", "detect.py",
          ("--model", "yolov4", "--size", "608x608", "--no-opencv", "--frames", "20", "--rounds", "2", "--batch", "8"),
          ("--model", "yolov4", "--size", "320x320", "--no-opencv", "--frames", "2", "--rounds", "1", "--batch", "1"),
          (OURS_E2E, BATCH), gpu_s=30, cpu_s=60),
    Bench("detect yolov4-tiny compiled vs eager (CPU 160x128)", "detect.py",
          ("--no-opencv", *FRAMES, "--variants", "fp32,fp32-compiled"),
          ("--size", "160x128", "--no-opencv", "--frames", "4", "--rounds", "1", "--variants", "fp32,fp32-compiled"),
          (OURS_E2E, OURS_MODEL,
           ("ratio compiled/eager", r"ratio compiled/eager (\w+ (?:model|end to end))\s*: ([\d.]+)"),
           ("build and compile s", r"^(\S+-compiled): built and compiled in ([\d.]+) s"),
           ("compile alone s", r"^(\S+-compiled): built and compiled .*?the compile itself ([\d.]+) s")),
          gpu_s=110, cpu_s=90),
    Bench("detect yolox-tiny 416 (CPU nano 320)", "detect.py",
          ("--model", "yolox-tiny", *FRAMES, "--variants", "fp32,fp32-compiled"),
          ("--model", "yolox-nano", "--size", "320x320", *FEW),
          FAMILY_COMPILED, gpu_s=60, cpu_s=25),
    Bench("detect dfine-n 640 (CPU 320)", "detect.py",
          ("--model", "dfine-n", *FRAMES),
          ("--model", "dfine-n", "--size", "320x320", *FEW),
          FAMILY, gpu_s=25, cpu_s=40),
    Bench("detect rtdetr-r18 640 (CPU 320)", "detect.py",
          ("--model", "rtdetr-r18", *FRAMES),
          ("--model", "rtdetr-r18", "--size", "320x320", *FEW),
          FAMILY, gpu_s=25, cpu_s=60),
    Bench("faces", "faces.py",
          ("--sizes", "100000,1000000", "--dims", "512", "--frames", "20", "--embedders", "lbp,facenet-random"),
          # The dlib comparison is no row of this table, and on a CPU dlib needs seconds a frame.
          ("--sizes", "1000", "--dims", "128", "--frames", "3", "--queries", "5", "--embedders", "lbp", "--skip-dlib"),
          (("search ms", r"search top-1\s+([\d,]+ x \d+-d) on \w+: median ([\d.]+) ms"),
           ("recognition fps", r"recognition (\S+\s+\d+ face\(s\)).*?([\d.]+) fps")),
          gpu_s=40, cpu_s=20),
    Bench("style", "style.py",
          ("--size", "512", "--steps", "100", "--live-frames", "30"),
          ("--size", "96", "--steps", "5", "--live-size", "160x120", "--live-frames", "2"),
          (("photo mode s (ours)", r"ours\s*:\s*([\d.]+) s"),
           ("photo mode s (reference)", r"reference\s*:\s*([\d.]+) s"),
           ("live AdaIN fps", r"live AdaIN: (\d+x\d+).*?: ([\d.]+) fps")),
          gpu_s=35, cpu_s=40),
    Bench("feature maps resnet18 layer2", "inspect_live.py",
          ("--frames", "30", "--rounds", "3"),
          # the saliency modes take minutes on 2 CPU cores (occlusion, integrated gradients: ~10 s a frame)
          ("--frames", "4", "--rounds", "1", "--vis-steps", "16", "--skip-saliency"),
          (("activations fps", r"activations fps: ([\d.]+)"),
           ("collect fps", r"^collect fps: ([\d.]+)"),
           ("per second", r"^(\w[\w -]*) ms/frame: [\d.]+, per second: ([\d.]+)"),
           ("feature visualisation s", r"^feature visualisation (\d+ steps) at 224 px s: ([\d.]+)")),
          gpu_s=25, cpu_s=40),
    Bench("segment person mode 640x480", "segment.py",
          ("--seconds", "5"),
          ("--seconds", "2"),
          (("ours fps", r"^ours\s+person mode, network at short side (\d+).*?:\s+([\d.]+) fps"),
           ("peer fps (torchvision plainly, 520)", r"^peer\s+torchvision.*?:\s+([\d.]+) fps"),
           ("speed-up ours/peer", r"^speed-up ([\d.]+)x")),
          gpu_s=20, cpu_s=40),
    Bench("segment instances 640x480", "segment_instances.py",
          ("--sides", "800,480", "--frames", "10"),
          ("--sides", "160", "--frames", "1", "--instances", "5"),
          (("s/frame", r"^(\w+ short side \d+): ([\d.]+) s/frame"),),
          gpu_s=25, cpu_s=50),
    Bench("teach a detector (GPU: default length; CPU: 1 step)", "teach_detect.py",
          (),
          ("--scenes", "10", "--epochs", "1", "--size", "128"),
          (("training time s", r"^training time: ([\d.]+) s"),
           ("estimate s", r"^estimate: ([\d.]+) s"),
           ("held-out mAP@0.5", r"^trained held-out mAP@0\.5: ([\d.]+)"),
           ("held-out mAP@0.5:0.95", r"^trained held-out mAP@0\.5:0\.95: ([\d.]+)"),
           ("predict ms (CPU, 320x240)", r"^predict: ([\d.]+) ms")),
          gpu_s=90, cpu_s=45),
    Bench("batch detect yolov4-tiny 320x256", "batch.py",
          ("--videos", "4", "--frames", "60", "--workers", "1"),
          ("--videos", "2", "--frames", "4", "--workers", "1"),
          (("frames/s over the wall time", r"^(\S.*?)\s+wall\s+[\d.]+ s\s+[\d.]+ \w+/s\s+([\d.]+) frames/s"),
           ("frames/s processing", r"^(\S.*?)\s+wall .*\| processing\s+[\d.]+ s:\s+([\d.]+) frames/s"),
           ("start-up s", r"^(\S.*?)\s+wall .*start-up\s+([\d.]+) s")),
          gpu_s=60, cpu_s=100, threads=False),
)


def pick(bench: Bench, output: str) -> list[tuple[str, str]]:
    """(measure, value) rows found in a script's output; the groups before the value go in
    front, as a [qualifier]."""
    rows: list[tuple[str, str]] = []
    for label, pattern in bench.measures:
        for match in re.finditer(pattern, output, flags=re.MULTILINE):
            groups = match.groups()
            qualifier = " ".join(g.strip() for g in groups[:-1] if g)
            rows.append((f"{label} [{qualifier}]" if qualifier else label, groups[-1]))
    return rows


def time_limit(left: float, expected: float, expected_left: float) -> float:
    """Seconds one script may run: its share of what is ``left`` of the budget, in
    proportion to its ``expected`` seconds among the ``expected_left`` seconds of the
    scripts still to run (this one included), times 1.5; at least 10, never more than
    ``left`` (the limit covers the whole process: start-up and model loading too)."""
    return min(left, max(10.0, left * expected / max(expected_left, expected, 1e-9) * 1.5))


def slug(name: str) -> str:
    """A file name for a benchmark's ``name``: "detect yolov4 (608; CPU 320)" -> "detect-yolov4-608-cpu-320"."""
    return re.sub(r"[^a-z0-9.@]+", "-", name.lower()).strip("-")


def command(bench: Bench, device: str, threads: str | None) -> list[str]:
    cmd = [sys.executable, str(ROOT / "bench" / bench.script), "--device", device,
           *(bench.gpu_args if device.startswith("cuda") else bench.cpu_args)]
    if threads and bench.threads:
        cmd += ["--threads", threads]
    return cmd


def run_one(cmd: list[str], limit: float) -> tuple[int | None, str, str]:
    """Run ``cmd`` for at most ``limit`` seconds: (exit code, None when stopped; stdout; stderr).
    The script runs in a process group of its own, so a stop also ends what it started
    (the CLI calls of bench/batch.py, Ray, the compile's workers), and no child left
    holding the output pipe keeps the suite waiting."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out or "", err or ""


def render(table: list[tuple[str, str, str]], notes: list[str], heading: str) -> str:
    """The markdown table (benchmark | measure | value) under ``heading``, then the notes."""
    width_b = max([len("benchmark")] + [len(r[0]) for r in table])
    width_m = max([len("measure")] + [len(r[1]) for r in table])
    lines = [heading, f"| {'benchmark':<{width_b}} | {'measure':<{width_m}} | value |",
             f"|{'-' * (width_b + 2)}|{'-' * (width_m + 2)}|-------|"]
    lines += [f"| {name:<{width_b}} | {measure:<{width_m}} | {value} |" for name, measure, value in table]
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, cpu, mps")
    parser.add_argument("--budget", type=float, help=f"seconds for the whole suite (default on CUDA {BUDGET_S:.0f} = "
                                                      f"{BUDGET_S / 60:.0f} min; elsewhere 1.5 x the expected seconds)")
    parser.add_argument("--only", help="comma-separated benchmark scripts to run (" +
                        ", ".join(dict.fromkeys(Path(b.script).stem for b in SUITE)) +
                        ") or parts of benchmark names (e.g. yolox, compiled)")
    parser.add_argument("--threads", help="passed on to every script that takes it")
    parser.add_argument("--list", action="store_true", help="print what would run, with its expected seconds, and stop")
    parser.add_argument("--outputs", type=Path, help="also write each script's own output (stdout, then stderr) to "
                                                     "DIR/<benchmark>.txt (e.g. $OUT on a lent GPU machine)")
    args = parser.parse_args()

    gpu = args.device.startswith("cuda")
    wanted = {s.strip() for s in args.only.split(",")} if args.only else None
    chosen = [b for b in SUITE if wanted is None or Path(b.script).stem in wanted
              or any(w and w.lower() in b.name.lower() for w in wanted)]
    if not chosen:
        parser.error(f"--only {args.only}: no such benchmark script in the suite")
    expected = [b.gpu_s if gpu else b.cpu_s for b in chosen]
    if args.budget is None:  # a CPU run checks that the suite works; it is not held to the GPU's budget
        args.budget = BUDGET_S if gpu else 1.5 * sum(expected)
    print(f"{len(chosen)} benchmark(s) on {args.device}, expected about {sum(expected):.0f} s, "
          f"budget {args.budget:.0f} s", flush=True)
    if args.list:
        for bench, seconds in zip(chosen, expected):
            shown = " ".join(["bench/" + bench.script, *command(bench, args.device, args.threads)[2:]])
            print(f"  {seconds:4.0f} s  {bench.name}: {shown}")
        return 0
    start = time.monotonic()
    table: list[tuple[str, str, str]] = []
    notes: list[str] = []
    for i, bench in enumerate(chosen):
        left = args.budget - (time.monotonic() - start)
        if left < 10:
            notes.append(f"{bench.name}: not run, the {args.budget:.0f} s budget was spent")
            continue
        limit = time_limit(left, expected[i], sum(expected[i:]))
        cmd = command(bench, args.device, args.threads)
        shown = " ".join(["bench/" + bench.script, *cmd[2:]])
        t0 = time.monotonic()
        code, out, err = run_one(cmd, limit)
        seconds = time.monotonic() - t0
        rows = pick(bench, out)
        table += [(bench.name, m, v) for m, v in rows]
        if args.outputs:
            args.outputs.mkdir(parents=True, exist_ok=True)
            (args.outputs / f"{slug(bench.name)}.txt").write_text(f"$ {shown}\n{out}\n--- stderr\n{err}")
        if code is None:
            notes.append(f"{bench.name}: stopped after {limit:.0f} s ({shown})")
        else:
            if code != 0:
                last = (err.strip().splitlines() or ["(no message)"])[-1]
                notes.append(f"{bench.name}: exit {code}: {last}")
            elif not rows:
                notes.append(f"{bench.name}: ran, but printed nothing this table knows ({shown})")
            table.append((bench.name, "wall time of the script s", f"{seconds:.1f}"))
        print(f"[{time.monotonic() - start:5.0f} s] {shown}: {seconds:.1f} s (expected {expected[i]:.0f})", flush=True)

        if args.outputs:  # the table so far: what survives if the whole run is cut short
            (args.outputs / "table.md").write_text(render(table, notes, f"device {args.device}, after {shown}"))

    print("\n" + render(table, notes, f"device {args.device}, total {time.monotonic() - start:.0f} s "
                                      f"(budget {args.budget:.0f} s)"), end="")
    return 0 if table else 1


if __name__ == "__main__":
    sys.exit(main())
