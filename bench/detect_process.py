#!/usr/bin/env python3
"""Whole-process detection time: `python main.py detect clip.mp4` vs an OpenCV-only script.

    python bench/detect_process.py [--model yolov4-tiny] [--frames 300] [--runs 3]
                                   [--precision auto|fp32|bf16|int8] [--weights FILE] [--baseline DIR]

Both sides are fresh processes doing everything a user waits for: start Python, import
their libraries, read the cfg and weights, decode every frame of the same video, run the
network, decode boxes and NMS. Ours is the real command line (`main.py detect CLIP --cfg
CFG --weights W`); the peer is the textbook OpenCV DNN loop (readNetFromDarknet,
blobFromImage, forward, NMSBoxesBatched), written below. Runs alternate (ours, OpenCV,
ours, ...) so background load hits both alike; medians and per-pair ratios are printed,
with the other processes' CPU use (engine.runtime.threads) before and after each pair. Without
--weights, random weights are written in the Darknet format (speed does not depend on
their values). The thread policy each side runs under is its own: main.py applies the
app's (engine.runtime.threads), OpenCV its defaults. ``--baseline DIR`` adds a third process in
every round: main.py of another checkout of CNN Studio (e.g. the previous release), for
before/after numbers from the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime.threads import WAIT_VARIABLES, measure_other_load

OPENCV_SCRIPT = r'''
import sys
import cv2
import numpy as np

cfg, weights, clip, conf, nms = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
width, height = int(sys.argv[6]), int(sys.argv[7])
net = cv2.dnn.readNetFromDarknet(cfg, weights)
net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
names = net.getUnconnectedOutLayersNames()
capture = cv2.VideoCapture(clip)
frames = total = 0
while True:
    ok, frame = capture.read()
    if not ok:
        break
    net.setInput(cv2.dnn.blobFromImage(frame, 1 / 255.0, (width, height), swapRB=True, crop=False))
    rows = np.concatenate(net.forward(names), axis=0)
    probs = rows[:, 5:]
    ids = probs.argmax(axis=1)
    scores = probs[np.arange(len(rows)), ids]
    keep = scores > conf
    rows, ids, scores = rows[keep], ids[keep], scores[keep]
    h, w = frame.shape[:2]
    bw, bh = rows[:, 2] * w, rows[:, 3] * h
    boxes = np.stack([rows[:, 0] * w - bw / 2, rows[:, 1] * h - bh / 2, bw, bh], axis=1)
    total += len(cv2.dnn.NMSBoxesBatched(boxes.tolist(), scores.tolist(), ids.tolist(), conf, nms))
    frames += 1
print(f"{clip}: {frames} frame(s), {total} detection(s)")
'''


def write_clip(path: Path, frames: int, size: tuple[int, int] = (640, 480)) -> None:
    import cv2

    from engine.features.detect.backends.darknet.random_weights import synthetic_image

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path}")
    pictures = [synthetic_image(size[1], size[0], seed=s) for s in range(10)]
    for i in range(frames):
        writer.write(pictures[i % len(pictures)])
    writer.release()


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolov4-tiny", help="bundled cfg name")
    parser.add_argument("--weights", help="a .weights file (default: random weights)")
    parser.add_argument("--frames", type=int, default=300, help="frames in the clip (640x480)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs (ours, OpenCV)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="fp32",
                        help="ours: detect --precision (default fp32, whatever the CLI's default)")
    parser.add_argument("--baseline", metavar="DIR", help="also time main.py of this other checkout (fp32)")
    args = parser.parse_args()

    from engine.features.detect.backends.darknet.random_weights import write_random_weights
    from engine.features.detect.names import bundled_path

    cfg = bundled_path(f"{args.model}.cfg")
    tmp = tempfile.TemporaryDirectory()
    weights = Path(args.weights) if args.weights else Path(tmp.name) / f"{cfg.stem}.weights"
    if not args.weights:
        write_random_weights(cfg, weights)
    clip = Path(tmp.name) / "clip.avi"
    write_clip(clip, args.frames)
    from engine.features.detect.backends.darknet.cfg import parse_cfg

    parsed = parse_cfg(cfg)
    conf, nms = 0.25, 0.45
    # Neither side inherits a thread policy from this shell: each applies its own.
    env = {k: v for k, v in os.environ.items() if k not in (*WAIT_VARIABLES, "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    detect_args = ["detect", str(clip), "--cfg", str(cfg), "--weights", str(weights), "--conf", str(conf), "--iou", str(nms)]
    # Always named: the CLI's default is "auto", which is bf16 on AMX CPUs.
    ours_cmd = [sys.executable, str(ROOT / "main.py"), *detect_args, "--precision", args.precision]
    baseline_env = None
    if args.baseline:
        baseline = Path(args.baseline).resolve()
        baseline_cmd = [sys.executable, str(baseline / "main.py"), *detect_args]
        baseline_env = dict(env, PYTHONPATH=str(baseline))
    opencv_cmd = [sys.executable, "-c", OPENCV_SCRIPT, str(cfg), str(weights), str(clip), str(conf), str(nms),
                  str(parsed.width), str(parsed.height)]
    print(f"{args.model} at {parsed.width}x{parsed.height}, {args.frames}-frame 640x480 clip, {args.runs} pairs, "
          f"ours --precision {args.precision}, {os.cpu_count()} CPUs")
    ours_t: list[float] = []
    cv_t: list[float] = []
    base_t: list[float] = []
    for run in range(args.runs):
        load = measure_other_load(0.5)
        order = [("ours", ours_cmd), ("OpenCV", opencv_cmd)]
        if run % 2:
            order.reverse()
        if baseline_env is not None:
            order.insert(run % 3, ("baseline", baseline_cmd))
        results = {}
        for name, cmd in order:
            results[name] = timed(cmd, baseline_env if name == "baseline" else env)
        ours_t.append(results["ours"][0])
        cv_t.append(results["OpenCV"][0])
        if "baseline" in results:
            base_t.append(results["baseline"][0])
            print(f"  pair {run + 1}: baseline {results['baseline'][0]:6.2f} s ({results['baseline'][1]}), ratio to "
                  f"OpenCV {results['baseline'][0] / results['OpenCV'][0]:.3f}")
        load_after = measure_other_load(0.5)
        loads = ", ".join("?" if v is None else f"{v:.2f}" for v in (load, load_after))
        print(f"  pair {run + 1}: ours {results['ours'][0]:6.2f} s ({results['ours'][1]}), OpenCV "
              f"{results['OpenCV'][0]:6.2f} s ({results['OpenCV'][1]}), ratio {results['ours'][0] / results['OpenCV'][0]:.3f}; "
              f"other processes {loads} cores")
    ratios = [a / b for a, b in zip(ours_t, cv_t)]
    print(f"whole process, median: ours {statistics.median(ours_t):.2f} s ({args.frames / statistics.median(ours_t):.1f} "
          f"frames/s overall), OpenCV {statistics.median(cv_t):.2f} s; ratio of medians "
          f"{statistics.median(ours_t) / statistics.median(cv_t):.3f}, per-pair ratios min {min(ratios):.3f} "
          f"median {statistics.median(ratios):.3f} max {max(ratios):.3f} (< 1 means ours is faster)")
    if base_t:
        base_ratios = [a / b for a, b in zip(base_t, cv_t)]
        print(f"baseline {args.baseline}: median {statistics.median(base_t):.2f} s; ratio to OpenCV min "
              f"{min(base_ratios):.3f} median {statistics.median(base_ratios):.3f} max {max(base_ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
