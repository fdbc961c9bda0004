"""Precision variants of the YOLOX and DETR-family detectors: speed and agreement with fp32.

    python bench/detect.py --model yolox-nano --variants fp32,int8,bf16 [--weights FILE_OR_FOLDER]
                           [--frames 20] [--rounds 5] [--threads N] [--per-image 10]
    python bench/detect.py --model yolox-tiny --variants fp32,fp32-compiled --device cuda [--size 416x416]

Without --weights: seeded random weights in the released layout (YOLOX: calibrated, see
yolox/random_weights.py; D-FINE N and RT-DETR R18: transformers' own classes at the
released sizes with seeded random values, via the test helpers, so the test extra must be
installed). The network's speed does not depend on its values; agreement does, so it is
only indicative with random weights: a trained network's logits are better separated.

Each variant is built through the model-folder loader (``open_model_dir``), as
``detect --model-dir`` would, with ``DetectorOptions(precision=...)``, on ``--device``
(bf16 and int8 are CPU modes: elsewhere they run fp32), at ``--size WxH`` (default the
model's own: YOLOX 416, D-FINE and RT-DETR 640). NAME-compiled (e.g. fp32-compiled) adds
``compile=True`` (YOLOX; a family without it is skipped, saying so): it compiles on the
first frames, before timing, and its build time is printed. int8 calibrates on four
synthetic street pictures (seeds 100-103). Timing: the same frames, variants in
alternating rounds, median ms per frame end to end (frame in, boxes out) and of the
network alone (``forward`` on one prepared input; CUDA synchronised). Agreement: on the
eight oracle pictures (seeds 3-10) as bench/detect.py measures it (same class, IoU >= 0.5;
recall and precision of fp32's boxes, mean IoU of the matched ones), at a confidence
threshold that gives fp32 about ``--per-image`` boxes a picture when the weights are random
(in the widest gap between its scores, so that near-ties do not decide).
bf16 runs only on CPUs with native bf16 (elsewhere the variant runs fp32, as the app does;
the tests check bf16's agreement there with ``native_bf16_only=False``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.models.catalog import CapabilityError

ORACLE_SEEDS = range(3, 11)
CALIBRATION_SEEDS = range(100, 104)


def random_weights(name: str, folder: Path) -> Path:
    """Seeded random weights for catalog entry ``name`` in its released layout, under ``folder``."""
    if name.startswith("yolox-"):
        from engine.features.detect.backends.yolox.random_weights import write_random_pth

        return write_random_pth(folder / f"{name}.pth", name.split("-", 1)[1], seed=7)
    if name == "dfine-n":
        from tests.detect.dfine_reference import nano_config, save_reference

        save_reference(nano_config(), folder / name, seed=1)
        return folder / name
    if name == "rtdetr-r18":
        from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig

        from tests.detect.dfine_reference import randomise

        backbone = RTDetrResNetConfig(depths=[2, 2, 2, 2], layer_type="basic", hidden_sizes=[64, 128, 256, 512],
                                      out_features=["stage2", "stage3", "stage4"], downsample_in_bottleneck=True)
        config = RTDetrConfig(backbone_config=backbone, encoder_in_channels=[128, 256, 512], hidden_expansion=0.5,
                              decoder_layers=3, num_labels=80)
        randomise(RTDetrForObjectDetection(config), seed=1).save_pretrained(folder / name)
        return folder / name
    raise SystemExit(f"--model {name}: no random weights for it here; pass --weights FILE_OR_FOLDER")


def gap_threshold(scores: np.ndarray, wanted: int) -> float:
    """A confidence threshold that keeps between wanted / 2 and 2 * wanted of the
    (descending) ``scores``, in the widest gap between two of them: random weights give
    many nearly equal scores, and a threshold among them would count rounding as
    disagreement."""
    if len(scores) < 2:
        return 0.25
    low, high = max(1, wanted // 2), min(len(scores) - 1, 2 * wanted)
    gaps = scores[low - 1:high] - scores[low:high + 1]
    k = low - 1 + int(np.argmax(gaps))
    return float((scores[k] + scores[k + 1]) / 2)


def build(path: Path, variant: str, device: str = "cpu", size: tuple[int, int] | None = None):
    """The detector of ``variant`` ("fp32", "int8", "bf16", optionally "-compiled"), after
    its calibration frames (which also compile a compiled one)."""
    from engine.features.detect.model_dir import open_model_dir
    from engine.features.detect.options import DetectorOptions

    precision, _, compiled = variant.partition("-")
    options = DetectorOptions(precision=precision, compile=bool(compiled), input_size=size)
    detector = open_model_dir(path, options=options, device=device)
    for seed in CALIBRATION_SEEDS:  # int8 measures its activation ranges on these
        detector.detect(synthetic_image(480, 640, seed=seed))
    return detector


def network_timer(detector, frame: np.ndarray):
    """A call that runs ``detector``'s network alone on ``frame``'s prepared input."""
    with torch.inference_mode():
        prepared = detector.prepare(frame)
    cuda = prepared[0].device.type == "cuda"

    def run() -> None:
        with torch.inference_mode():
            detector.forward(prepared)
        if cuda:
            torch.cuda.synchronize()
    return run


def run(args, agreement) -> int:
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if "fp32" not in variants:
        variants.insert(0, "fp32")
    torch.set_num_threads(args.threads or torch.get_num_threads())
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.weights) if args.weights else random_weights(args.model, Path(tmp))
        detectors = {}
        for v in variants:
            started = time.perf_counter()
            try:
                detectors[v] = build(path, v, args.device, size)
            except CapabilityError as exc:  # the model does not offer it: say so, measure the rest
                print(f"  {v}: skipped ({exc})")
                continue
            if v.endswith("-compiled"):
                print(f"  {v}: built and compiled in {time.perf_counter() - started:.1f} s", flush=True)
        reference = detectors["fp32"]
        oracle = [synthetic_image(480, 640, seed=s) for s in ORACLE_SEEDS]
        if not args.weights:
            reference.conf_threshold = 0.0
            scores = np.sort(np.concatenate([reference.detect(im).scores for im in oracle]))[::-1]
            conf = gap_threshold(scores, args.per_image * len(oracle))
            for d in detectors.values():
                d.conf_threshold = conf
        conf = reference.conf_threshold
        frames = [synthetic_image(480, 640, seed=s) for s in range(20, 20 + args.frames)]
        times: dict[str, list[float]] = {v: [] for v in detectors}
        network_times: dict[str, list[float]] = {v: [] for v in detectors}
        networks = {v: network_timer(d, frames[0]) for v, d in detectors.items()}
        for v, d in detectors.items():
            d.detect(frames[0])
            networks[v]()
        for _ in range(args.rounds):
            for v, d in detectors.items():
                start = time.perf_counter()
                for frame in frames:
                    d.detect(frame)
                times[v].append((time.perf_counter() - start) * 1000 / len(frames))
                start = time.perf_counter()
                for _ in frames:
                    networks[v]()
                network_times[v].append((time.perf_counter() - start) * 1000 / len(frames))
        print(f"{args.model} ({'random weights' if not args.weights else args.weights}), device {args.device}, "
              f"{torch.get_num_threads()} threads, {len(frames)} frames 640x480 x {args.rounds} rounds, "
              f"input {reference.input_size[0]}x{reference.input_size[1]}, conf {conf:.3f}")
        base = statistics.median(times["fp32"])
        ref = [reference.detect(im) for im in oracle] if len(detectors) > 1 else []
        for v, d in detectors.items():
            ms = statistics.median(times[v])
            line = (f"  {v:<5} (runs {d.precision:<8}): {ms:7.1f} ms/frame end to end, "
                    f"{statistics.median(network_times[v]):7.1f} ms network ({base / ms:.2f}x fp32)")
            if v != "fp32":
                s = agreement(ref, [d.detect(im) for im in oracle])
                line += (f"; vs fp32: recall {s['recall']:.3f}, precision {s['precision']:.3f} "
                         f"({s['other']} vs {s['reference']} boxes), mean IoU {s['mean_iou']:.3f}, "
                         f"score change mean {s['mean_score_change']:.4f}")
            print(line)
    return 0
