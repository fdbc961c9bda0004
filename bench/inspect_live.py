#!/usr/bin/env python3
"""Feature-maps benchmark: live activations and Grad-CAM per frame.

    python bench/inspect_live.py                         # ResNet-18, layer2, 224 px, default device
    python bench/inspect_live.py --device cuda --frames 200
    python bench/inspect_live.py --model mobilenet_v3_large --layer features.6 --threads 2

Runs the real InspectTask (preprocess -> one forward pass with the layer tap -> top-k
channels and top-5 classes) on synthetic 640x480 frames, as the worker does, in rounds;
the median round is reported. Weights are random (the speed of a network does not
depend on its weight values). Then the same for the saliency modes (Grad-CAM, vanilla
gradient, SmoothGrad with 8 samples) and the time to build the layer table.
Targets from the issue: activations >= 15 fps on a CPU; Grad-CAM >= 20 per second on a GPU.
Prints plain lines "name: value" so runs can be compared.
"""

from __future__ import annotations

import os
import sys

import argparse
import statistics
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.threads import prepare_process, threads_argument  # noqa: E402  (imports no torch)

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.device import choose_device, device_label  # noqa: E402
from engine.inspect.layer_table import build_layer_table  # noqa: E402
from engine.inspect.live import InspectTask  # noqa: E402
from engine.sources import Frame  # noqa: E402


def synthetic_frames(count: int, width: int = 640, height: int = 480) -> list[Frame]:
    """Moving gradients and a bright square: cheap, deterministic, not constant."""
    frames = []
    ys, xs = np.mgrid[0:height, 0:width]
    for i in range(count):
        image = np.zeros((height, width, 3), np.uint8)
        image[..., 0] = ((xs + 7 * i) % 256).astype(np.uint8)
        image[..., 1] = ((ys + 3 * i) % 256).astype(np.uint8)
        image[..., 2] = 96
        x0 = (20 * i) % (width - 120)
        image[150:270, x0 : x0 + 120] = 255
        frames.append(Frame(image=image, index=i, timestamp=time.monotonic(), source="bench"))
    return frames


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_task(task: InspectTask, frames: list[Frame], rounds: int, device: torch.device) -> list[float]:
    """Seconds per frame of each round (preprocess + infer + postprocess, as the worker runs them)."""
    per_round = []
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        for frame in frames:
            mode = torch.enable_grad() if task.needs_grad else torch.inference_mode()
            with mode:
                task.postprocess(task.infer(task.preprocess(frame)), frame)
        _sync(device)
        per_round.append((time.perf_counter() - start) / len(frames))
    return per_round


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--layer", default="layer2")
    parser.add_argument("--size", type=int, default=224, help="network input side in pixels")
    parser.add_argument("--frames", type=int, default=30, help="frames per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--skip-saliency", action="store_true")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    print(f"device: {device_label(device)}")
    print(f"torch: {torch.__version__}, CPU threads {torch.get_num_threads()}, CPUs {os.cpu_count()}")
    if device.type == "cpu":
        print("note: no GPU on this machine; GPU targets need a run with --device cuda elsewhere")
    print(f"model: {args.model} (random weights), layer {args.layer}, input {args.size}x{args.size}, frames 640x480")

    frames = synthetic_frames(args.frames)
    task = InspectTask(args.model, untrained=True, layer=args.layer, input_size=args.size, channels=16)
    task.load(device)
    time_task(task, frames[:3], 1, device)  # warm-up (allocator, cuDNN autotune)
    rounds = time_task(task, frames, args.rounds, device)
    median = statistics.median(rounds)
    print(f"activations ms/frame: {1000 * median:.1f} (rounds {', '.join(f'{1000 * r:.1f}' for r in rounds)})")
    print(f"activations fps: {1 / median:.1f} (target >= 15 on a CPU)")

    if not args.skip_saliency:
        for mode, target in (("gradcam", " (target >= 20 per second on a GPU)"), ("gradient", ""), ("smoothgrad", "")):
            task.mode = mode
            task.smoothgrad_samples = 8
            time_task(task, frames[:2], 1, device)
            rounds = time_task(task, frames[: max(5, args.frames // 3)], max(3, args.rounds - 2), device)
            median = statistics.median(rounds)
            print(f"{mode} ms/frame: {1000 * median:.1f}, per second: {1 / median:.1f}{target}")
    task.close()

    module = InspectTask(args.model, untrained=True, layer=args.layer)
    module.load(torch.device("cpu"))
    start = time.perf_counter()
    table = build_layer_table(module.model.module, (3, args.size, args.size), args.model)
    print(f"layer table ({len(table.rows)} rows, receptive fields included) ms: {1000 * (time.perf_counter() - start):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
