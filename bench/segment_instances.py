#!/usr/bin/env python3
"""Seconds per 640x480 frame of the Segment tab's instance models on this machine.

    python bench/segment_instances.py [--models maskrcnn_resnet50_fpn,keypointrcnn_resnet50_fpn]
                                      [--sides 800,480] [--frames 3] [--instances 20] [--threads N]
                                      [--device cpu|cuda]

Ours: ``InstanceModel.run`` (BGR frame in, torchvision's network, instances out), the same
call the tab's "Run on this frame" and `segment --model ...` make, at each short side
(800 is the published weights' own), on ``--device`` (default cpu). The installed weights are used when present;
otherwise seeded random weights, which find nothing, and the heads that run per instance
(masks, keypoints) would then never run: so with random weights the score threshold is 0
and ``--instances`` detections are kept per frame, a busy scene's worth. One warm-up frame
is not counted. The 1-minute load average is printed: the numbers move with the machine's
other work.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent))

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())

import torch  # noqa: E402

import engine.features  # noqa: E402,F401  (the catalog's provider)
from bench.segment import frames  # noqa: E402
from engine.features.segment.instances import InstanceModel, build_instance_network, load_instance_weights  # noqa: E402
from engine.models.cache import default_cache  # noqa: E402
from engine.models.catalog import catalog  # noqa: E402
from engine.runtime.device import choose_device  # noqa: E402


def model_for(name: str, instances: int, device: torch.device) -> tuple[InstanceModel, str]:
    entry = catalog().get(name)
    network = build_instance_network(entry.meta["architecture"])
    cache = default_cache()
    if cache.is_installed(entry):
        load_instance_weights(network, cache.path(entry), model_name=name)
        how = "installed weights"
    else:
        torch.manual_seed(0)
        torch.set_flush_denormal(True)
        network.roi_heads.score_thresh = 0.0
        network.roi_heads.detections_per_img = instances
        how = f"seeded random weights, {instances} instances a frame"
    return InstanceModel(network, name=name, categories=entry.meta["categories"],
                         keypoint_names=entry.meta.get("keypoint_names", ()), device=device), how


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="maskrcnn_resnet50_fpn,keypointrcnn_resnet50_fpn")
    parser.add_argument("--sides", default="800,480")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps")
    args = parser.parse_args()
    device = choose_device(args.device)
    images = frames(args.frames + 1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, frames 640x480")
    for name in args.models.split(","):
        model, how = model_for(name, args.instances, device)
        for side in (int(s) for s in args.sides.split(",")):
            model.set_min_size(side)
            model.run(images[0])  # warm-up
            start, cpu = time.perf_counter(), time.process_time()
            found = [len(model.run(image)) for image in images[1:]]
            n = len(found)
            wall = (time.perf_counter() - start) / n
            print(f"{name} short side {side}: {wall:.3f} s/frame (cpu {(time.process_time() - cpu) / n:.3f} s), "
                  f"{sum(found) / n:.0f} instances/frame, {how}; load {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
