#!/usr/bin/env python3
"""Detection speed: our torch YOLO vs OpenCV DNN on the same cfg, weights and frames.

    python bench/detect.py [--model yolov4-tiny] [--size 416x416] [--frames 40] [--rounds 5]
                           [--weights FILE] [--threads N] [--device cpu|cuda] [--pipeline]

Without --weights, calibrated random weights are written in the Darknet format (the
speed of a network does not depend on its weight values). Both engines process the same
frames in alternating rounds, so background load hits both alike; the median round is
reported. "end to end" = BGR frame in -> final boxes out (resize, inference, decoding,
NMS); "model" = the network alone on a ready input blob. ``--pipeline`` also measures the
live path (capture thread at 30 fps -> mailbox -> worker -> result) and reports the
capture-to-result latency. On CUDA, ``--batch`` gives model-only throughput in fp16.
"""

from __future__ import annotations

import os

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run from anywhere: the engine package lives in the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402,F401  (first: it sets how OpenMP threads wait, before torch loads)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.detection.darknet.random_weights import synthetic_image, write_random_weights  # noqa: E402
from engine.detection.names import bundled_path  # noqa: E402
from engine.detection.yolo import YoloDetector  # noqa: E402


def opencv_postprocess(outs, frame_w, frame_h, conf, iou):
    rows = np.concatenate(outs, axis=0)
    probs = rows[:, 5:]
    class_ids = probs.argmax(axis=1)
    scores = probs[np.arange(len(rows)), class_ids]
    keep = scores > conf
    rows, class_ids, scores = rows[keep], class_ids[keep], scores[keep]
    w, h = rows[:, 2] * frame_w, rows[:, 3] * frame_h
    boxes = np.stack([rows[:, 0] * frame_w - w / 2, rows[:, 1] * frame_h - h / 2, w, h], axis=1)
    return cv2.dnn.NMSBoxesBatched(boxes.tolist(), scores.tolist(), class_ids.tolist(), conf, iou)


def run_pipeline(detector_factory, frames, seconds: float, fps: float) -> tuple[float, float, int, int]:
    """Frames submitted at ``fps`` from a thread to a real InferenceWorker; returns
    (median latency ms, p90 latency ms, results, frames dropped)."""
    from engine.detection.task import DetectionTask
    from engine.runtime import running_worker
    from engine.sources import Frame

    latencies: list[float] = []
    task = DetectionTask(detector_factory)
    with running_worker(lambda r: latencies.append(r.timings.latency_ms), task, device=None) as worker:
        while task.detector is None:
            time.sleep(0.05)
        time.sleep(0.5)
        latencies.clear()
        start, i = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            worker.submit(Frame(frames[i % len(frames)], i, time.monotonic(), "bench"))
            i += 1
            time.sleep(max(0.0, start + i / fps - time.monotonic()))
        time.sleep(0.5)
        dropped = worker.stats.dropped
    lat = sorted(latencies)
    return (statistics.median(lat), lat[int(0.9 * (len(lat) - 1))], len(lat), dropped) if lat else (float("nan"),) * 2 + (0, dropped)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolov4-tiny", help="bundled cfg name (yolov4-tiny, yolov3-tiny, yolov7-tiny, yolov4, ...)")
    parser.add_argument("--cfg", help="a cfg file instead of a bundled one")
    parser.add_argument("--weights", help="a .weights file (default: random weights)")
    parser.add_argument("--size", default="416x416")
    parser.add_argument("--frames", type=int, default=30, help="frames per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--compile", action="store_true", help="our network through torch.compile (inductor)")
    parser.add_argument("--bf16", action="store_true", help="our network in bfloat16 (CPUs with AVX512-BF16/AMX)")
    parser.add_argument("--no-opencv", action="store_true", help="skip the OpenCV side (e.g. on a GPU box)")
    parser.add_argument("--batch", type=int, default=0, help="CUDA: also measure model-only throughput at this batch size")
    parser.add_argument("--pipeline", action="store_true", help="also measure live capture-to-result latency at 30 fps")
    args = parser.parse_args()

    width, height = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    cfg = Path(args.cfg) if args.cfg else bundled_path(f"{args.model}.cfg")
    tmp = tempfile.TemporaryDirectory()
    weights = Path(args.weights) if args.weights else Path(tmp.name) / f"{cfg.stem}.weights"
    if not args.weights:
        write_random_weights(cfg, weights)
    device = torch.device(args.device)
    channels_last = None if args.channels_last == "auto" else args.channels_last == "on"
    detector = YoloDetector.from_files(cfg, weights, device=device, input_size=(width, height),
                                       channels_last=channels_last, compile=args.compile, bf16=args.bf16)
    frames = [synthetic_image(480, 640, seed=s) for s in range(args.frames)]
    conf, iou = detector.conf_threshold, detector.iou_threshold

    net = None
    if not args.no_opencv:
        net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        out_names = net.getUnconnectedOutLayersNames()

    def ours_e2e(frame):
        detector.detect(frame)

    prepared = detector.prepare(frames[0])

    def ours_model(_frame):
        with torch.inference_mode():
            detector.forward(prepared)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def cv_e2e(frame):
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, (width, height), swapRB=True, crop=False)
        net.setInput(blob)
        opencv_postprocess(net.forward(out_names), frame.shape[1], frame.shape[0], conf, iou)

    blob0 = cv2.dnn.blobFromImage(frames[0], 1 / 255.0, (width, height), swapRB=True, crop=False)

    def cv_model(_frame):
        net.setInput(blob0)
        net.forward(out_names)

    benches = {"ours end to end": ours_e2e, "ours model": ours_model}
    if net is not None:
        benches.update({"OpenCV end to end": cv_e2e, "OpenCV model": cv_model})
    for fn in benches.values():  # warm-up: allocators, oneDNN primitive caches, cudnn autotune
        for frame in frames[:3]:
            fn(frame)
    # Paired design: every frame goes through every engine back to back (in rotating
    # order), so a burst of background load hits both sides of a pair alike.
    times: dict[str, list[float]] = {k: [] for k in benches}
    names = list(benches)
    for r in range(args.rounds):
        for i, frame in enumerate(frames):
            shift = (r + i) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                benches[name](frame)
                times[name].append((time.perf_counter() - start) * 1000.0)

    print(f"model {cfg.stem} at {width}x{height}, frames 640x480, {args.rounds} rounds x {args.frames} frames, "
          f"device {device}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), channels_last={detector.channels_last}, "
          f"dtype={detector.dtype}, compiled={args.compile}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '-')}")
    median = {k: statistics.median(v) for k, v in times.items()}
    for name, values in times.items():
        fast = sorted(values)[len(values) // 10]
        print(f"  {name:<20} median {median[name]:8.2f} ms/frame ({1000.0 / median[name]:6.1f} frames/s), "
              f"p10 {fast:7.2f} ms")
    if net is not None:
        for kind in ("end to end", "model"):
            pairs = [a / b for a, b in zip(times[f"ours {kind}"], times[f"OpenCV {kind}"])]
            print(f"  ratio ours/OpenCV {kind:<10}: {median[f'ours {kind}'] / median[f'OpenCV {kind}']:.3f} "
                  f"(median of per-frame ratios {statistics.median(pairs):.3f}; < 1 means ours is faster)")
    if args.batch and device.type == "cuda":
        x = torch.rand((args.batch, 3, height, width), device=device, dtype=detector.dtype)
        if detector.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            for _ in range(5):
                detector.model(x)
            torch.cuda.synchronize()
            start, n = time.perf_counter(), 50
            for _ in range(n):
                detector.model(x)
            torch.cuda.synchronize()
        rate = n * args.batch / (time.perf_counter() - start)
        print(f"  model-only throughput, batch {args.batch}, {detector.dtype}: {rate:.0f} frames/s")
    if args.pipeline:
        def factory(dev):
            return YoloDetector.from_files(cfg, weights, device=device, input_size=(width, height),
                                           channels_last=channels_last, compile=args.compile, bf16=args.bf16)
        med, p90, count, dropped = run_pipeline(factory, frames, seconds=6.0, fps=30.0)
        print(f"  live pipeline at 30 fps: capture-to-result latency median {med:.1f} ms, p90 {p90:.1f} ms "
              f"({count} results, {dropped} frames dropped as stale; one frame at 30 fps = 33.3 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
