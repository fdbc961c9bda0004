#!/usr/bin/env python3
"""Teach benchmark: caching embeddings, training the head, live prediction fps.

    python bench/teach.py                    # CPU, MobileNetV3-Large at 224 px, 300 samples
    python bench/teach.py --device cuda
    python bench/teach.py --backbone resnet18 --samples 600

The backbone is the full architecture: its installed ImageNet weights when present,
else random weights written in the same checkpoint format into a temporary weights
cache and loaded through the same path (same cost). Samples are synthetic 640 x 480
images (engine.features.teach.synthetic). Prints "name: value" lines; targets on a 2-core laptop
CPU: head training on 300 cached samples < 5 s, live prediction >= 20 fps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import engine  # noqa: E402,F401  (process policy before torch)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def full_backbone(name: str, tmp: Path):
    from engine.features.teach.backbones import _torchvision_model, backbone_spec, load_backbone, weights_installed
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    if weights_installed(name):
        return load_backbone(name), "installed ImageNet weights"
    spec = backbone_spec(name)
    entry = catalog().get(spec.catalog_name)
    file = tmp / entry.file().filename
    torch.manual_seed(0)
    torch.save(_torchvision_model(spec.arch).state_dict(), file)
    cache = WeightsCache(tmp / "models")
    cache.import_file(entry, file)
    return load_backbone(name, cache=cache), "random weights in the checkpoint format (same cost)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbone", default="mobilenet_v3_large")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--frames", type=int, default=100, help="live frames to time")
    args = parser.parse_args()

    from engine.core.frame import Frame
    from engine.features.teach.features import EmbeddingCache
    from engine.features.teach.settings import AugmentSettings, TrainSettings
    from engine.features.teach.synthetic import make_image
    from engine.features.teach.task import LiveSettings, TeachTask
    from engine.features.teach.training import DataItem, Dataset, run_to_end, train
    from engine.runtime.device import choose_device, device_label

    device = choose_device(args.device)
    print(f"device: {device_label(device)}")
    print(f"torch threads: {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp_dir:
        backbone, weights = full_backbone(args.backbone, Path(tmp_dir))
        print(f"backbone: {backbone.spec.title}, {weights}, input 224 px, embedding {backbone.feature_dim}")
        rng = np.random.default_rng(0)
        images = [make_image(i % 3, rng, (640, 480)) for i in range(args.samples)]
        classes = ("stripes", "checks", "blobs")
        items = tuple(DataItem(f"s{i}", classes[i % 3], (lambda im=im: im)) for i, im in enumerate(images))
        dataset = Dataset(classes, items)
        cache = EmbeddingCache(None, backbone.cache_key)
        plain = TrainSettings(augment=AugmentSettings(enabled=False))

        # 1. cache: every sample through the backbone once (warm-up on a few first)
        run_to_end(train(Dataset(classes, items[:6]), backbone, TrainSettings(epochs=1, augment=AugmentSettings(enabled=False)),
                         cache=EmbeddingCache(None, "warm"), device=device))
        _sync(device)
        t0 = time.perf_counter()
        first = run_to_end(train(dataset, backbone, plain, cache=cache, device=device))
        _sync(device)
        cache_and_train = time.perf_counter() - t0
        # 2. head training alone, everything cached
        t0, c0 = time.perf_counter(), time.process_time()
        again = run_to_end(train(dataset, backbone, plain, cache=cache, device=device))
        head_s, head_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"cache embeddings ({args.samples} samples): {cache_and_train - head_s:.2f} s "
              f"({(cache_and_train - head_s) / args.samples * 1000:.1f} ms/sample)")
        # CPU time too: on a shared machine the wall time mostly measures the other processes.
        print(f"head training ({args.samples} cached samples, linear, {len(again.history)} epochs): {head_s:.2f} s "
              f"(CPU time {head_cpu:.2f} s; val accuracy {again.val_accuracy:.1%}; target < 5 s)")
        aug = TrainSettings()
        t0 = time.perf_counter()
        run_to_end(train(dataset, backbone, aug, cache=cache, device=device))
        print(f"head training with {aug.augment.copies} augmented copies, first time (embeds the copies): {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        run_to_end(train(dataset, backbone, aug, cache=cache, device=device))
        print(f"head training with {aug.augment.copies} augmented copies, cached: {time.perf_counter() - t0:.2f} s")

        # 3. live: the real task on 640 x 480 frames, one at a time
        task = TeachTask(first.model, LiveSettings())
        task.load(device)
        frames = [Frame(images[i % len(images)], i, time.monotonic(), "bench") for i in range(args.frames)]
        times = []
        c0 = time.process_time()
        with torch.inference_mode():
            for i, frame in enumerate(frames[:10] + frames):
                t0 = time.perf_counter()
                task.postprocess(task.infer(task.preprocess(frame)), frame)
                _sync(device)
                if i >= 10:
                    times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        cpu_per_frame = (time.process_time() - c0) / (len(frames) + 10)
        print(f"live prediction ({backbone.spec.title}, 224 px, 640x480 frames): {1 / median:.1f} fps "
              f"(median {median * 1000:.1f} ms/frame, CPU time {cpu_per_frame * 1000:.1f} ms/frame over "
              f"{torch.get_num_threads()} threads; target >= 20 fps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
