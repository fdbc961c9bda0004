#!/usr/bin/env python3
"""Detection speed: our torch YOLO vs OpenCV DNN on the same cfg, weights and frames.

    python bench/detect.py [--model yolov4-tiny] [--size 416x416] [--frames 30] [--rounds 5]
                           [--weights FILE] [--threads N] [--device cpu|cuda] [--pipeline]
                           [--variants fp32,int8,bf16,fp32-compiled] [--repeat 3]
    python bench/detect.py --peers openvino,onnxruntime [--model NAME] [--precision fp32] [--peer-precision f32] [--busy]
                           [--ours-threads N|app]
                           [--variants fp32,bf16,bf16-compiled]

Without --weights, calibrated random weights are written in the Darknet format (the
speed of a network does not depend on its weight values). Both engines process the same
frames in alternating rounds, so background load hits both alike; the median round is
reported. "end to end" = BGR frame in -> final boxes out (resize, inference, decoding,
NMS); "model" = the network alone on a ready input blob. ``--pipeline`` also measures the
live path (capture thread at 30 fps -> mailbox -> worker -> result) and reports the
capture-to-result latency. ``--batch N`` adds model-only throughput at batch N (the eager
network in the first variant's dtype: float16 on CUDA).
On CUDA "fp32" runs YoloDetector's float16 (labelled fp16 in the output).

``--variants`` measures several precisions of ours in the same interleaved run (fp32;
int8, the CPU "fast" mode; bf16 on CPUs with AVX512-BF16/AMX) and, for each one that is
not fp32, its agreement with fp32 on the oracle images of the OpenCV-equivalence tests
(synthetic street pictures, seeds 3-10; int8 calibrates on other pictures): recall and
precision of fp32's detections (same class, IoU >= 0.5), mean IoU and score change.
A variant NAME-compiled (fp32-compiled, bf16-compiled; ``--compile`` turns fp32 into
fp32-compiled) runs NAME through torch.compile (engine.runtime.compiled: inductor, frozen
weights, compiled in the background); the compile is waited for before timing and its
seconds printed, and each compiled variant whose eager NAME is measured too gets a
"ratio compiled/eager" line (network alone and end to end, < 1: compiled is faster).
Every variant's network alone is timed too ("ours TAG model").
The other processes' CPU use is measured before and after (engine.runtime.threads), since the
machine may be shared; ``--repeat`` runs the whole comparison several times and reports
the spread of the ratio.

``--model yolox-nano|yolox-tiny|yolox-s|dfine-n|rtdetr-r18 --variants fp32,int8,bf16``
measures those families' precision variants instead (no OpenCV side; fp32-compiled for
YOLOX; on ``--device``, end to end and network alone, ``--size`` their input, default
their own): see bench/detect_variants.py.

``--peers openvino,onnxruntime`` compares ours with those runtimes on our own ONNX export
instead (network alone and end to end, peers using our preprocessing and decoding so only
the network runtime differs): see bench/detect_peers.py. ``--busy`` runs it beside one
competing busy process; ``--ours-threads app`` then gives ours the thread count the live
app's governor picks under that load (the peers keep ``--threads``, as their users run them).
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

# Run from anywhere: the engine package lives in the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.core.boxes import box_iou
from engine.features.detect.backends.darknet.detector import YoloDetector
from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights
from engine.features.detect.names import bundled_path
from engine.runtime.threads import measure_other_load

ORACLE_SEEDS = range(3, 11)  # tests/detection: street_image is synthetic_image(480, 640, seed=3)
CALIBRATION_SEEDS = range(100, 100 + YoloDetector.INT8_CALIBRATION_FRAMES)


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


def agreement(reference, other, iou_min: float = 0.5) -> dict[str, float]:
    """How well ``other``'s detections reproduce ``reference``'s (lists of Detections,
    one per image): greedy matching by IoU within each class."""
    matched = ref_total = other_total = 0
    ious: list[float] = []
    score_deltas: list[float] = []
    for ref, oth in zip(reference, other):
        ref_total += len(ref)
        other_total += len(oth)
        if not len(ref) or not len(oth):
            continue
        iou = box_iou(ref.boxes, oth.boxes)
        iou[ref.class_ids[:, None] != oth.class_ids[None, :]] = 0.0
        free = np.ones(len(oth), bool)
        for i in np.argsort(-ref.scores):
            j = int(np.argmax(np.where(free, iou[i], -1.0)))
            if free[j] and iou[i, j] >= iou_min:
                free[j] = False
                matched += 1
                ious.append(float(iou[i, j]))
                score_deltas.append(abs(float(ref.scores[i] - oth.scores[j])))
    return {"recall": matched / max(ref_total, 1), "precision": matched / max(other_total, 1),
            "mean_iou": float(np.mean(ious)) if ious else float("nan"),
            "mean_score_change": float(np.mean(score_deltas)) if score_deltas else float("nan"),
            "max_score_change": float(np.max(score_deltas)) if score_deltas else float("nan"),
            "reference": ref_total, "other": other_total}


def run_pipeline(detector_factory, frames, seconds: float, fps: float) -> tuple[float, float, int, int]:
    """Frames submitted at ``fps`` from a thread to a real InferenceWorker; returns
    (median latency ms, p90 latency ms, results, frames dropped)."""
    from engine.core.frame import Frame
    from engine.features.detect.task import DetectionTask
    from engine.runtime.worker import running_worker

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


def catalog_detector(name: str, weights: str | None, size: tuple[int, int], precision: str, home: Path,
                     compile: bool | None = False):
    """Our detector for the detect catalog entry ``name`` (or a bundled Darknet cfg's stem),
    installed in a cache under ``home``: from ``weights`` (a file, or a folder holding the
    entry's files), or from seeded random weights in the entry's own format (Darknet; YOLOX,
    D-FINE and RT-DETR as bench/detect_variants.py writes them)."""
    from engine.features.detect.factory import load_detector
    from engine.features.detect.options import DetectorOptions
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    entry = catalog().get(name)
    if entry.task != "detect":
        raise SystemExit(f"--model {name} is a {entry.task} model, not a detector")
    if weights is None and "cfg" not in entry.meta:  # YOLOX, D-FINE, RT-DETR: their released layouts
        from bench.detect_variants import random_weights

        weights = str(random_weights(name, home))
    elif weights is None:
        weights = str(home / entry.files[0].filename)
        write_random_weights(bundled_path(entry.meta["cfg"]), weights)
    cache = WeightsCache(home / "models")
    if Path(weights).is_dir():  # a model folder (D-FINE, RT-DETR: config.json + model.safetensors)
        for file in entry.files:
            cache.import_file(entry, Path(weights) / file.filename, file.filename, force=True)
    else:
        cache.import_file(entry, weights, force=True)
    adjustable = entry.capabilities.input_size is not None and entry.capabilities.input_size.adjustable
    options = DetectorOptions(input_size=size if adjustable else None, precision=precision, compile=compile)
    return load_detector(name, cache=cache, device="cpu", options=options)


def app_threads(choice: str | None, threads: int) -> int:
    """Ours' torch thread count for --peers: ``threads`` (as the peers) when ``choice`` is
    None; a number as given; "app": what the live app's ThreadGovernor settles on under the
    load measured now (engine.runtime.threads: the cores other processes leave free when
    they use more than half a core, else the calm "gui" plan), printed with the load."""
    if choice is None:
        return threads
    if choice != "app":
        return max(1, int(choice))
    from engine.runtime.threads import ThreadGovernor, measure_other_load

    load = measure_other_load(1.0)
    governor = ThreadGovernor("gui", patience=1)
    chosen = governor.update(load)
    print(f"ours runs {chosen} thread(s), as the live app would with other processes using "
          f"{load if load is not None else float('nan'):.2f} cores ({governor.plan.reason})")
    return chosen


def peers_main(args) -> int:
    """--peers: ours against OpenVINO / ONNX Runtime on our ONNX export (bench/detect_peers.py)."""
    from bench.detect_peers import run_peers

    width, height = (int(v) for v in args.size.lower().split("x"))
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants != "fp32" else []
    if not variants:
        variants = [args.precision + ("-compiled" if args.compile else "")]
    if args.unchecked_compile:  # time the compiled network even where it fails its check against eager
        from engine.features.detect.backends.compiling import BackgroundCompiling
        from engine.runtime.compiled import Tolerance

        BackgroundCompiling.compile_tolerance = Tolerance(rtol=float("inf"), atol=float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        detectors = {}
        for variant in variants:  # e.g. fp32, bf16, bf16-compiled
            precision, _, compiled = variant.partition("-")
            started = time.perf_counter()
            detector = catalog_detector(args.model, args.weights, (width, height), precision, Path(tmp),
                                        compile=bool(compiled))
            built = time.perf_counter() - started
            for frame in (synthetic_image(480, 640, seed=s) for s in CALIBRATION_SEEDS):
                detector.detect(frame)  # int8 calibrates on these
            network = getattr(detector, "_network", None)
            if compiled and hasattr(network, "wait"):
                network.wait()
                print(f"{variant}: built in {built:.1f} s, compiled in the background in "
                      f"{network.compile_seconds:.1f} s ({detector.precision_label}{'; ' + network.note if network.note else ''})")
            detectors[variant] = detector
        frames = [synthetic_image(480, 640, seed=s) for s in range(args.frames)]
        oracle = [synthetic_image(480, 640, seed=s) for s in ORACLE_SEEDS]
        first = detectors[variants[0]]
        label = (f"{first.name} at {first.input_size[0]}x{first.input_size[1]} "
                 f"{getattr(first, 'precision_label', '')} ({getattr(first, 'precision', '')}), torch {torch.__version__}"
                 if first.input_size else first.name)
        names = [n.strip() for n in args.peers.split(",") if n.strip()]
        others = {v: d for v, d in detectors.items() if v != variants[0]}
        # --busy: one competing process spinning on a core for the whole comparison (a browser
        # tab, a build), the "with one other busy process" case; ours and the peers share it alike.
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
        try:
            ours_threads = app_threads(args.ours_threads, threads)
            torch.set_num_threads(ours_threads)  # the peers keep ``threads``: their pools are their own
            for rep in range(args.repeat):
                print(f"run {rep + 1}/{args.repeat}" + (" (one busy process beside it)" if busy else ""))
                run_peers(first, names, frames, rounds=args.rounds, threads=threads,
                          peer_precision=args.peer_precision, label=label, oracle=oracle, others=others,
                          ours_threads=ours_threads)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        for variant, detector in detectors.items():  # a compile given up while timing shows here
            print(f"{variant} after timing: {getattr(detector, 'precision_label', '')}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolov4-tiny", help="bundled cfg name (yolov4-tiny, yolov3-tiny, yolov7-tiny, yolov4, ...)")
    parser.add_argument("--cfg", help="a cfg file instead of a bundled one")
    parser.add_argument("--weights", help="a .weights file (default: random weights)")
    parser.add_argument("--size", help="network input WxH (default 416x416; YOLOX and DETR variants: the model's own)")
    parser.add_argument("--frames", type=int, default=30, help="frames per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="repeat the whole comparison; the spread of the ratio is printed")
    parser.add_argument("--threads", type=int, default=None, help="torch and OpenCV threads (default: the thread budget's, all cores)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--compile", action="store_true", help="our fp32 network (with --peers: --precision's) through "
                                                               "torch.compile (inductor), waited for before timing "
                                                               "(same as fp32-compiled in --variants)")
    parser.add_argument("--unchecked-compile", action="store_true",
                        help="with --peers: use the compiled network even where it disagrees with eager (for timing "
                             "only: D-FINE/RT-DETR's raw outputs fail the check, see options.auto_compile)")
    parser.add_argument("--bf16", action="store_true", help="same as adding bf16 to --variants")
    parser.add_argument("--variants", default="fp32", help="comma-separated precisions of ours: fp32, int8, bf16 (CPU), "
                                                           "NAME-compiled (fp32-compiled, bf16-compiled: through "
                                                           "torch.compile)")
    parser.add_argument("--no-opencv", action="store_true", help="skip the OpenCV side (e.g. on a GPU box)")
    parser.add_argument("--batch", type=int, default=0, help="also measure model-only throughput at this batch size")
    parser.add_argument("--pipeline", action="store_true", help="also measure live capture-to-result latency at 30 fps")
    parser.add_argument("--peers", help="compare with other runtimes on our ONNX export instead of OpenCV: "
                                        "openvino,onnxruntime (see bench/detect_peers.py); --model may then be any "
                                        "detect catalog entry (Darknet ones get random weights, others need --weights)")
    parser.add_argument("--precision", default="fp32", help="with --peers: ours in auto, fp32, bf16 or int8")
    parser.add_argument("--peer-precision", choices=["default", "f32"], default="default",
                        help="with --peers: OpenVINO's inference precision (its default: bf16 on AMX CPUs, f32 elsewhere)")
    parser.add_argument("--busy", action="store_true", help="with --peers: one competing busy process throughout")
    parser.add_argument("--ours-threads", default=None,
                        help="with --peers: ours' torch threads, a number or 'app' (what the live app's thread "
                             "governor picks under the load measured at the start; the peers keep --threads)")
    parser.add_argument("--per-image", type=int, default=10,
                        help="YOLOX/DETR variants with random weights: fp32 boxes per picture the threshold gives")
    args = parser.parse_args()
    if args.model.startswith(("yolox-", "dfine-", "rtdetr")) and not args.cfg and not args.peers:
        # YOLOX and the DETR family: precision variants alone (bench/detect_variants.py)
        from bench.detect_variants import run
        return run(args, agreement)
    args.size = args.size or "416x416"
    if args.peers:
        return peers_main(args)

    width, height = (int(v) for v in args.size.lower().split("x"))
    threads = args.threads or torch.get_num_threads()  # the budget set OMP_NUM_THREADS before torch loaded
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    cfg = Path(args.cfg) if args.cfg else bundled_path(f"{args.model}.cfg")
    tmp = tempfile.TemporaryDirectory()
    weights = Path(args.weights) if args.weights else Path(tmp.name) / f"{cfg.stem}.weights"
    if not args.weights:
        write_random_weights(cfg, weights)
    device = torch.device(args.device)
    channels_last = None if args.channels_last == "auto" else args.channels_last == "on"
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.bf16 and "bf16" not in variants:
        variants.append("bf16")
    if args.compile:
        variants = ["fp32-compiled" if v == "fp32" else v for v in variants]
    known = {"fp32", "int8", "bf16", "fp32-compiled", "bf16-compiled"}
    unknown = set(variants) - known
    if unknown or not variants:
        parser.error(f"--variants: unknown {', '.join(sorted(unknown)) or '(none given)'}; use {', '.join(sorted(known))}")

    def make(variant: str, dev=device) -> YoloDetector:
        precision, _, compiled = variant.partition("-")
        return YoloDetector.from_files(cfg, weights, device=dev, input_size=(width, height), channels_last=channels_last,
                                       compile=bool(compiled), bf16=precision == "bf16", int8=precision == "int8")

    calibration = [synthetic_image(480, 640, seed=s) for s in CALIBRATION_SEEDS]
    detectors: dict[str, YoloDetector] = {}
    for variant in variants:
        started = time.perf_counter()
        det = make(variant)
        for frame in calibration:  # int8 measures its ranges on these, never on the oracle images
            det.detect(frame)  # (and a compile starts after the first eager calls)
        network = det._network
        if variant.endswith("-compiled") and hasattr(network, "wait"):
            network.wait()  # timing a network that switches to compiled midway would measure neither
            print(f"{variant}: built and compiled in {time.perf_counter() - started:.1f} s (the compile itself "
                  f"{network.compile_seconds or 0.0:.1f} s): {det.compile_state or 'eager'}"
                  f"{'; ' + network.note if network.note else ''}", flush=True)
        detectors[variant] = det
    frames = [synthetic_image(480, 640, seed=s) for s in range(args.frames)]
    first = detectors[variants[0]]
    conf, iou = first.conf_threshold, first.iou_threshold

    net = None
    if not args.no_opencv:
        net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        out_names = net.getUnconnectedOutLayersNames()

    def ours_e2e(det):
        return lambda frame: det.detect(frame)

    def ours_model(det):
        with torch.inference_mode():
            prepared = det.prepare(frames[0])
            prepared = (prepared[0].clone(), *prepared[1:])

        def run(_frame):
            with torch.inference_mode():
                det.forward(prepared)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return run

    def cv_e2e(frame):
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, (width, height), swapRB=True, crop=False)
        net.setInput(blob)
        opencv_postprocess(net.forward(out_names), frame.shape[1], frame.shape[0], conf, iou)

    blob0 = cv2.dnn.blobFromImage(frames[0], 1 / 255.0, (width, height), swapRB=True, crop=False)

    def cv_model(_frame):
        net.setInput(blob0)
        net.forward(out_names)

    # Label by what each really computes in: "fp32" on CUDA is YoloDetector's float16; a
    # compile that failed says so (it runs eagerly).
    short = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "int8": "int8"}
    tag = {v: short.get(d.precision, d.precision) + ("" if not v.endswith("-compiled") else
                                                     "-compiled" if d.compile_state == "compiled" else "-compile-failed")
           for v, d in detectors.items()}
    benches = {f"ours {tag[v]} end to end": ours_e2e(d) for v, d in detectors.items()}
    benches.update({f"ours {tag[v]} model": ours_model(d) for v, d in detectors.items()})
    if net is not None:
        benches.update({"OpenCV end to end": cv_e2e, "OpenCV model": cv_model})
    for fn in benches.values():  # warm-up: allocators, oneDNN primitive caches, cudnn autotune
        for frame in frames[:3]:
            fn(frame)

    print(f"model {cfg.stem} at {width}x{height}, frames 640x480, {args.rounds} rounds x {args.frames} frames, "
          f"device {device}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), channels_last={first.channels_last}, "
          f"variants {', '.join(f'{v}={tag[v]}' for v in detectors)}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}, GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '-')}")
    ratios: dict[str, list[float]] = {}
    names = list(benches)
    for rep in range(args.repeat):
        load_before = measure_other_load(0.5)
        # Paired design: every frame goes through every engine back to back (in rotating
        # order), so a burst of background load hits both sides of a pair alike.
        times: dict[str, list[float]] = {k: [] for k in benches}
        for r in range(args.rounds):
            for i, frame in enumerate(frames):
                shift = (r + i) % len(names)
                for name in names[shift:] + names[:shift]:
                    start = time.perf_counter()
                    benches[name](frame)
                    times[name].append((time.perf_counter() - start) * 1000.0)
        load_after = measure_other_load(0.5)
        loads = ", ".join("unknown" if v is None else f"{v:.2f}" for v in (load_before, load_after))
        print(f"run {rep + 1}/{args.repeat}: other processes used {loads} cores (before, after); "
              f"load average {os.getloadavg()[0]:.2f}")
        median = {k: statistics.median(v) for k, v in times.items()}
        for name, values in times.items():
            fast = sorted(values)[len(values) // 10]
            print(f"  {name:<28} median {median[name]:8.2f} ms/frame ({1000.0 / median[name]:6.1f} frames/s), "
                  f"p10 {fast:7.2f} ms")
        if net is not None:
            pairs_of = [(f"ours {tag[v]} end to end", "OpenCV end to end", f"{tag[v]} end to end") for v in variants]
            pairs_of.append((f"ours {tag[variants[0]]} model", "OpenCV model", f"{tag[variants[0]]} model"))
            for ours, theirs, label in pairs_of:
                pairs = [a / b for a, b in zip(times[ours], times[theirs])]
                ratio = median[ours] / median[theirs]
                ratios.setdefault(label, []).append(ratio)
                print(f"  ratio ours/OpenCV {label:<18}: {ratio:.3f} (median of per-frame ratios "
                      f"{statistics.median(pairs):.3f}; < 1 means ours is faster)")
        for v in variants:
            eager = v.partition("-")[0]
            if v.endswith("-compiled") and eager in detectors:
                for part in ("model", "end to end"):
                    ratio = median[f"ours {tag[v]} {part}"] / median[f"ours {tag[eager]} {part}"]
                    print(f"  ratio compiled/eager {tag[eager]} {part:<10}: {ratio:.3f} (< 1 means compiled is faster)")
    if args.repeat > 1 and ratios:
        print("spread over runs:")
        for label, values in ratios.items():
            print(f"  ratio {label:<18}: min {min(values):.3f}, median {statistics.median(values):.3f}, "
                  f"max {max(values):.3f} ({len(values)} runs)")

    others = [v for v in variants if v != "fp32"]
    if others and device.type == "cpu":
        reference = detectors.get("fp32") or make("fp32")  # agreement is with eager fp32
        oracle = [synthetic_image(480, 640, seed=s) for s in ORACLE_SEEDS]
        ref = [reference.detect(im) for im in oracle]
        print(f"agreement with fp32 on {len(oracle)} oracle images (conf {conf}, NMS IoU {iou}):")
        for v in others:
            stats = agreement(ref, [detectors[v].detect(im) for im in oracle])
            print(f"  {tag[v]:<5}: recall {stats['recall']:.3f}, precision {stats['precision']:.3f} "
                  f"({stats['other']} vs {stats['reference']} detections), matched boxes mean IoU "
                  f"{stats['mean_iou']:.3f}, score change mean {stats['mean_score_change']:.4f} "
                  f"max {stats['max_score_change']:.4f}")
    if args.batch:
        cuda = device.type == "cuda"
        x = torch.rand((args.batch, 3, height, width), device=device, dtype=first.dtype)
        if first.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            for _ in range(5 if cuda else 1):
                first.model(x)
            if cuda:
                torch.cuda.synchronize()
            start, n = time.perf_counter(), 50 if cuda else 3
            for _ in range(n):
                first.model(x)
            if cuda:
                torch.cuda.synchronize()
        rate = n * args.batch / (time.perf_counter() - start)
        print(f"  model-only throughput, batch {args.batch}, {first.dtype}: {rate:.1f} frames/s")
    if args.pipeline:
        med, p90, count, dropped = run_pipeline(lambda dev: make(variants[0]), frames, seconds=6.0, fps=30.0)
        print(f"  live pipeline at 30 fps: capture-to-result latency median {med:.1f} ms, p90 {p90:.1f} ms "
              f"({count} results, {dropped} frames dropped as stale; one frame at 30 fps = 33.3 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
