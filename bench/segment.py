#!/usr/bin/env python3
"""Segment tab speed: person mode (background blur) frames per second at 640x480.

    python bench/segment.py [--model lraspp_mobilenet_v3_large] [--seconds 6] [--side 160]
                            [--background blur|colour] [--no-stabilise] [--threads N] [--device cpu|cuda]

Ours: ``SegmentationTask`` in person mode through the worker's own per-frame step
(``engine.runtime.sync.run_task``): the network at short side ``--side``, the mask
smoothed, flow-stabilised and upsampled, the frame composed over a blurred copy.
Peer, measured in the same run on the same frames: torchvision's model run plainly as its
documentation shows, at full size (its weights' transforms, short side 520, logits
resized bilinearly to the frame, argmax) and the person mask composed with the same blend.
Frames: a real photo (scikit-image's astronaut) resized to 640x480 and shifted a few
pixels each frame, so the optical flow has motion to follow. The installed weights are
used when present; otherwise seeded random weights (speed does not depend on the values).
Both run their network on ``--device`` (default cpu). The 1-minute load average is
printed: the numbers move with the machine's other work; the CPU time a frame (all
threads) moves much less, and gives the rate an idle machine would reach, between 1/cpu
(no parallelism) and threads/cpu (on a GPU it is the host's share of each frame).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent))  # run from anywhere: the engine lives in the repository root

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import engine.features  # noqa: E402,F401  (the catalog's provider)
from engine.core.frame import Frame  # noqa: E402
from engine.features.segment.catalog import PERSON  # noqa: E402
from engine.features.segment.model import Segmenter, build_network, load_weights  # noqa: E402
from engine.features.segment.person import Background  # noqa: E402
from engine.features.segment.task import SegmentationTask, SegmentSettings  # noqa: E402
from engine.models.cache import default_cache  # noqa: E402
from engine.models.catalog import catalog  # noqa: E402
from engine.runtime.device import choose_device  # noqa: E402
from engine.runtime.sync import run_task  # noqa: E402


def frames(count: int, size=(640, 480)) -> list[np.ndarray]:
    try:
        import skimage.data
        base = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    except ImportError:  # the bench runs without the test extra too
        base = np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)
    base = cv2.resize(base, (size[0] + 64, size[1] + 64))
    out = []
    for i in range(count):
        dx, dy = int(8 + 6 * np.sin(i / 5)), int(8 + 4 * np.cos(i / 7))
        out.append(np.ascontiguousarray(base[dy:dy + size[1], dx:dx + size[0]]))
    return out


def network_for(name: str):
    entry = catalog().get(name)
    network = build_network(entry.meta["architecture"])
    cache = default_cache()
    if cache.is_installed(entry):
        load_weights(network, cache.path(entry), model_name=name)
        return entry, network, "installed weights"
    torch.manual_seed(0)
    # Untrained activations fade into subnormal floats, which CPUs compute ~20x slower;
    # trained weights do not, so flushing them keeps the timing that of real weights.
    torch.set_flush_denormal(True)
    return entry, network, "seeded random weights, subnormals flushed"


def bench_ours(segmenter: Segmenter, settings: SegmentSettings, images: list[np.ndarray], seconds: float,
               device: torch.device) -> float:
    task = SegmentationTask(segmenter, settings)
    task.load(device)
    stream = (Frame(image, i, time.monotonic(), "bench") for i, image in enumerate(images * 1000))
    for _ in zip(range(3), run_task(task, stream, device=device, load=False)):
        pass  # warm-up
    start, cpu, n = time.perf_counter(), time.process_time(), 0
    for _ in run_task(task, stream, device=device, load=False):
        n += 1
        if time.perf_counter() - start > seconds:
            break
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n


def bench_peer(network, architecture: str, images: list[np.ndarray], seconds: float, device: torch.device) -> float:
    from torchvision.models import segmentation as seg
    weights = {"lraspp_mobilenet_v3_large": seg.LRASPP_MobileNet_V3_Large_Weights,
               "deeplabv3_mobilenet_v3_large": seg.DeepLabV3_MobileNet_V3_Large_Weights,
               "deeplabv3_resnet50": seg.DeepLabV3_ResNet50_Weights,
               "fcn_resnet50": seg.FCN_ResNet50_Weights}[architecture]
    preprocess = weights.DEFAULT.transforms()
    back = np.zeros_like(images[0])

    def one(image: np.ndarray) -> np.ndarray:
        rgb = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1])).to(device).permute(2, 0, 1)
        with torch.inference_mode():
            out = network(preprocess(rgb)[None])["out"]
            out = torch.nn.functional.interpolate(out, size=image.shape[:2], mode="bilinear", align_corners=False)
            person = (out[0].argmax(0) == PERSON).cpu().numpy()
        blurred = cv2.GaussianBlur(image, (0, 0), 12, dst=back)
        return np.where(person[..., None], image, blurred)

    for image in images[:2]:
        one(image)
    start, cpu, n = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - start < seconds:
        one(images[n % len(images)])
        n += 1
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lraspp_mobilenet_v3_large")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--side", type=int, default=160, help="network short side in person mode (px)")
    parser.add_argument("--background", choices=("blur", "colour"), default="blur")
    parser.add_argument("--no-stabilise", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the app's policy)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps")
    args = parser.parse_args()
    device = choose_device(args.device)
    entry, network, what = network_for(args.model)
    images = frames(40)
    segmenter = Segmenter(network, name=entry.name, categories=entry.meta["categories"], transforms=entry.transforms,
                          short_side=entry.meta["short_side"], device=device)
    settings = SegmentSettings(mode="person", person_side=args.side, background=Background(kind=args.background),
                               stabilise=not args.no_stabilise)
    print(f"model {entry.name} ({what}); frames 640x480; device {device}; torch threads {torch.get_num_threads()}; "
          f"load {os.getloadavg()[0]:.2f}")
    ours, ours_cpu = bench_ours(segmenter, settings, images, args.seconds, device)
    print(f"ours  person mode, network at short side {args.side}, {args.background}, "
          f"stabilise {'off' if args.no_stabilise else 'on'}: {ours:6.1f} fps, {ours_cpu * 1000:6.1f} ms CPU a frame")
    peer, peer_cpu = bench_peer(segmenter.network, entry.meta["architecture"], images, args.seconds, device)
    print(f"peer  torchvision plainly at full size (short side 520), argmax mask, blur: {peer:6.1f} fps, "
          f"{peer_cpu * 1000:6.1f} ms CPU a frame")
    # CPU time counts every thread's work and not the waits for a busy machine: on an idle
    # machine with these threads the rate lies between 1/cpu (no parallelism) and threads/cpu.
    threads = torch.get_num_threads()
    print(f"speed-up {ours / peer:.1f}x; idle-machine estimate for ours: {1 / ours_cpu:.0f}..{threads / ours_cpu:.0f} fps "
          f"(peer {1 / peer_cpu:.1f}..{threads / peer_cpu:.1f}); load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
