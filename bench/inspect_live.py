#!/usr/bin/env python3
"""Feature-maps benchmark: live activations and Grad-CAM per frame.

    python bench/inspect_live.py                         # ResNet-18, layer2, 224 px, default device
    python bench/inspect_live.py --device cuda --frames 200
    python bench/inspect_live.py --model mobilenet_v3_large --layer features.6 --threads 2

Runs the real InspectTask (preprocess -> one forward pass with the layer tap -> top-k
channels and top-5 classes) on synthetic 640x480 frames, as the worker does, in rounds;
the median round is reported. Weights are random (the speed of a network does not
depend on its weight values). Then: the same with "Collect" on (top-9 patches of every
channel, frames deduplicated), the explanation modes (Grad-CAM, vanilla gradient,
SmoothGrad with 8 samples, Integrated Gradients, guided backprop, occlusion), our own
Integrated Gradients and occlusion against Captum's in the same live loop, the time of
a 256-step feature visualisation at 224 px, and the time to build the layer table.
Targets from the issues: activations >= 15 fps on a CPU; Collect >= 10 fps for ResNet-18
layer2 on a CPU; Grad-CAM >= 20 per second on a GPU.
Prints plain lines "name: value" so runs can be compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.core.frame import Frame
from engine.features.inspect.layer_table import build_layer_table
from engine.features.inspect.task import InspectSettings, InspectTask
from engine.features.inspect.top_patches import TopPatches
from engine.runtime.device import choose_device, device_label


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


def collect_cost(task: InspectTask, frames: list[Frame]) -> float:
    """Seconds per frame of TopPatches.add on this layer's real activations (a fresh collection,
    the costliest phase: nearly every channel takes a patch from every new frame)."""
    outputs = []
    with torch.inference_mode():
        for frame in frames:
            out = task.infer(task.preprocess(frame))
            outputs.append((out["activation"].clone(), frame.image, out["geometry"]))
    rf = task.table.row(task.settings.layer).receptive_field
    collection = TopPatches(k=9)
    start = time.perf_counter()
    for i, (activation, image, geometry) in enumerate(outputs):
        collection.add(activation, image, geometry, rf, f"frame {i}")
    return (time.perf_counter() - start) / len(outputs)


def compare_backends(task: InspectTask, frames: list[Frame], device: torch.device, rounds: int) -> None:
    """Our Integrated Gradients and occlusion against Captum's, per live frame (same input, same model)."""
    from engine.features.inspect.attribution import integrated_gradients, occlusion

    module = task.model.module
    inputs = [task.preprocess(f)[0] for f in frames[:2]]
    side = inputs[0].shape[-1] // 5  # the live task's grid
    for name, run in (("integrated_gradients", lambda x, b: integrated_gradients(module, x, 1, steps=16, backend=b)),
                      ("occlusion", lambda x, b: occlusion(module, x, 1, window=side, stride=side, backend=b))):
        times = {}
        for backend in ("own", "captum"):
            run(inputs[0], backend)  # warm-up
            per = []
            for _ in range(rounds):
                _sync(device)
                start = time.perf_counter()
                for x in inputs:
                    run(x, backend)
                _sync(device)
                per.append((time.perf_counter() - start) / len(inputs))
            times[backend] = statistics.median(per)
        print(f"{name} ms/frame: own {1000 * times['own']:.1f}, captum {1000 * times['captum']:.1f} "
              f"(captum/own {times['captum'] / times['own']:.2f})")


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
    parser.add_argument("--vis-steps", type=int, default=256, help="feature visualisation steps (0: skip)")
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
    collection = TopPatches(k=9)
    task = InspectTask(args.model, untrained=True, settings=InspectSettings(layer=args.layer, channels=16), input_size=args.size,
                       collection=collection)
    task.load(device)
    time_task(task, frames[:3], 1, device)  # warm-up (allocator, cuDNN autotune)
    rounds = time_task(task, frames, args.rounds, device)
    median = statistics.median(rounds)
    print(f"activations ms/frame: {1000 * median:.1f} (rounds {', '.join(f'{1000 * r:.1f}' for r in rounds)})")
    print(f"activations fps: {1 / median:.1f} (target >= 15 on a CPU)")

    # Collect on and off in alternating rounds, so a change of load on the machine hits both alike.
    on, off = [], []
    for _ in range(args.rounds):
        task.configure(replace(task.settings, collect=False))
        off.extend(time_task(task, frames, 1, device))
        task.configure(replace(task.settings, collect=True))
        on.extend(time_task(task, frames, 1, device))
    task.configure(replace(task.settings, collect=False))
    plain, median = statistics.median(off), statistics.median(on)
    cost = collect_cost(task, frames)
    print(f"collect fps: {1 / median:.1f} (target >= 10 on a CPU; activations alone {1 / plain:.1f} fps in the same rounds; "
          f"{collection.images_seen} frames offered, {int((collection.filled() > 0).sum())} of {collection.channels} channels hold patches)")
    print(f"collect cost ms/frame (TopPatches.add alone, fresh collection): {1000 * cost:.1f}; "
          f"collect/activations time ratio {(plain + cost) / plain:.3f}")

    if not args.skip_saliency:
        for mode, target in (("gradcam", " (target >= 20 per second on a GPU)"), ("gradient", ""), ("smoothgrad", ""),
                             ("integrated_gradients", " (16 steps)"), ("guided_backprop", ""), ("occlusion", "")):
            task.configure(replace(task.settings, mode=mode, smoothgrad_samples=8, ig_steps=16))
            time_task(task, frames[:2], 1, device)
            heavy = mode in ("smoothgrad", "integrated_gradients", "occlusion")
            rounds = time_task(task, frames[: 2 if heavy else max(5, args.frames // 3)], 2 if heavy else max(3, args.rounds - 2), device)
            median = statistics.median(rounds)
            print(f"{mode} ms/frame: {1000 * median:.1f}, per second: {1 / median:.1f}{target}")
        compare_backends(task, frames, device, 2)
    module = task.model.module
    task.close()

    if args.vis_steps:
        from engine.features.inspect.feature_vis import Objective, visualise

        start = time.perf_counter()
        for _ in visualise(module, Objective("channel", 0, layer=args.layer), size=224, steps=args.vis_steps, preview_every=32):
            pass
        print(f"feature visualisation {args.vis_steps} steps at 224 px s: {time.perf_counter() - start:.1f}")

    start = time.perf_counter()
    table = build_layer_table(module.cpu(), (3, args.size, args.size), args.model)
    print(f"layer table ({len(table.rows)} rows, receptive fields included) ms: {1000 * (time.perf_counter() - start):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
