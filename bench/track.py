#!/usr/bin/env python3
"""Tracking cost: the tracker alone per frame, and Detect + track vs Detect alone.

    python bench/track.py [--objects 10,100,500] [--frames 300] [--model yolov4-tiny]
                          [--size 416x416] [--e2e-frames 40] [--rounds 5] [--threads N]

1. Tracker: synthetic scenes of N moving objects (jittered boxes, as a detector gives);
   median milliseconds per ``ByteTracker.update`` (target: < 1 ms at 100 objects), plus
   tracker + line/zone counting.
2. End to end: the live task (``DetectionTask``: preprocess, infer, postprocess) on the
   same frames with tracking off and on, in alternating rounds so background load hits
   both alike; frames per second of each and their ratio (target: within 5 %). Weights
   are calibrated random ones in the Darknet format (speed does not depend on values).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run from anywhere: the engine package lives in the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402,F401  (first: it sets how OpenMP threads wait, before torch loads)


def bench_tracker(objects: int, frames: int) -> tuple[float, float, float]:
    """(median ms per update, p90 ms, median ms per update + counting) for ``objects`` objects."""
    from engine.features.detect.counting import CountLine, RegionCounter, Regions, Zone
    from engine.features.detect.synthetic_scenes import random_objects, render_detections
    from engine.features.detect.tracking import ByteTracker

    scene = render_detections(random_objects(objects, frames, seed=objects), frames, jitter=2.0, miss_rate=0.02,
                              frame_size=(1920, 1080), seed=1)
    regions = Regions((CountLine("a", (0, 540), (1920, 540)), CountLine("b", (960, 0), (960, 1080))),
                      (Zone("z", ((200, 200), (900, 200), (900, 800), (200, 800))),))
    results = []
    for with_counting in (False, True):
        tracker = ByteTracker()
        counter = RegionCounter(regions)
        times = []
        for f in scene:
            t0 = time.perf_counter()
            tracks = tracker.update(f.det_boxes, f.det_scores, f.det_class_ids)
            if with_counting:
                counter.update(tracks, f.index / 30.0, f.index)
            times.append((time.perf_counter() - t0) * 1000.0)
        times = sorted(times[20:])  # after the tracks exist
        results.append((statistics.median(times), times[int(0.9 * (len(times) - 1))]))
    return results[0][0], results[0][1], results[1][0]


def bench_end_to_end(model: str, size: tuple[int, int], frames: int, rounds: int) -> tuple[float, float, float]:
    """(fps Detect alone, fps Detect + track, ms of tracking + counting per frame) on the
    live task; fps are medians of alternating rounds. The tracking time is measured on its
    own (the analyzer's step on the detections of those frames), because on a loaded
    machine the two fps differ by more noise than the tracker costs."""
    import torch

    from engine.core.frame import Frame
    from engine.features.detect.backends.darknet.detector import YoloDetector
    from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights
    from engine.features.detect.counting import CountLine, Regions
    from engine.features.detect.names import bundled_path
    from engine.features.detect.task import DetectionTask, DetectSettings

    cfg = bundled_path(f"{model}.cfg")
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / f"{model}.weights"
        write_random_weights(cfg, weights, seed=0)
        task = DetectionTask(lambda device: YoloDetector.from_files(cfg, weights, device=device))
        task.load(torch.device("cpu"))
    images = [synthetic_image(480, 640, seed=s) for s in range(8)]
    regions = Regions((CountLine("door", (0, 240), (640, 240)),))
    off = DetectSettings(input_size=size)
    on = DetectSettings(input_size=size, tracking=True, regions=regions)

    def run(settings: DetectSettings) -> float:
        task.configure(settings)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for i in range(frames):
                frame = Frame(images[i % len(images)], i, time.monotonic(), "bench")
                task.postprocess(task.infer(task.preprocess(frame)), frame)
        return frames / (time.perf_counter() - t0)

    run(off)  # warm-up
    alone, tracked = [], []
    for _ in range(rounds):
        alone.append(run(off))
        tracked.append(run(on))
    # The tracker's own share: its step timed on the detections the task produced.
    task.configure(on)
    step_ms = []
    with torch.inference_mode():
        for i in range(frames):
            frame = Frame(images[i % len(images)], i, float(i), "bench")
            raw, prepared = task.infer(task.preprocess(frame))
            dets = task.detector.finish(raw, prepared)
            t0 = time.perf_counter()
            task.analyzer.step(dets.boxes, dets.scores, dets.class_ids, float(i), i)
            step_ms.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(alone), statistics.median(tracked), statistics.median(step_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", default="10,100,500", help="comma-separated object counts")
    parser.add_argument("--frames", type=int, default=300, help="frames per tracker scene")
    parser.add_argument("--model", default="yolov4-tiny", help="bundled Darknet cfg for the end-to-end part")
    parser.add_argument("--size", default="416x416", help="network input WxH")
    parser.add_argument("--e2e-frames", type=int, default=40, help="frames per end-to-end round (0 skips it)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    print("tracker (ByteTracker.update), synthetic scenes, jitter 2 px, 2 % missed:")
    print(f"{'objects':>8} {'median ms':>10} {'p90 ms':>8} {'+counting ms':>13}")
    for n in (int(v) for v in args.objects.split(",") if v.strip()):
        med, p90, counted = bench_tracker(n, args.frames)
        print(f"{n:>8} {med:>10.3f} {p90:>8.3f} {counted:>13.3f}")
    if args.e2e_frames > 0:
        import torch
        torch.set_num_threads(args.threads)
        w, h = (int(v) for v in args.size.lower().split("x"))
        alone, tracked, step_ms = bench_end_to_end(args.model, (w, h), args.e2e_frames, args.rounds)
        print(f"\nend to end, {args.model} {w}x{h} on CPU ({torch.get_num_threads()} threads), "
              f"{args.e2e_frames} frames x {args.rounds} rounds (median):")
        print(f"  Detect alone     {alone:7.2f} fps")
        print(f"  Detect + track   {tracked:7.2f} fps   ratio {tracked / alone:.3f} (measured, alternating rounds)")
        frame_ms = 1000.0 / alone
        print(f"  tracking + counting alone: {step_ms:.3f} ms/frame = {step_ms / frame_ms * 100:.2f} % of a "
              f"{frame_ms:.0f} ms Detect frame -> expected ratio {frame_ms / (frame_ms + step_ms):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
