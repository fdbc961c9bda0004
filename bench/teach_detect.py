#!/usr/bin/env python3
"""Teach-a-detector benchmark: YOLOX trained from scratch on synthetic labelled scenes.

    python bench/teach_detect.py                          # 60 scenes, nano, 320 px, default length
    python bench/teach_detect.py --scenes 60 --minutes 10 --size 320 --arch tiny
    python bench/teach_detect.py --threads 2
    python bench/teach_detect.py --device cuda            # the GPU claim: the default length in about a minute

Writes N synthetic scenes (``engine.features.teach.detection.scenes``: discs, squares and
triangles on textured grey, 320 x 240, exact boxes), trains with ``train_detector``
(--untrained: random start, no download) on 80 % of them and measures, on the held-out
20 % (the same split the training holds out), mAP@0.5 and mAP@0.5:0.95 of:

- the trained network (wall-clock training time printed, estimate included);
- the same network before training (its random start: what training adds);
- a colour-threshold detector (peer): pixels far from the local background become
  blobs, each blob's box gets the class whose drawn colour is nearest its mean colour,
  the score is how saturated it is (a hand-made rule that knows how the scenes are drawn).

Training runs on ``--device`` (default: the app's choice, ``$CNN_STUDIO_DEVICE`` or the
best available; the evaluations and the peers' predictions run on the CPU, as in the app).
Prints plain lines "name: value". Measured on 2 shared CPU cores (other jobs loading them
2-6x over), 60 scenes, nano, default 480 steps: at 320 px 486 s, held-out mAP@0.5 1.000,
mAP@0.5:0.95 0.876; at 256 px (600 steps, load 10-13) 988 s, 1.000 / 0.779; the untrained
network 0.000 / 0.000 and the colour-threshold peer 0.710 / 0.629 on the same 12 pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

# The colours scenes.py draws its classes in (BGR), what the colour-threshold peer is told.
SCENE_COLOURS = np.array([(40, 60, 220), (60, 190, 50), (220, 120, 30)], np.float32)


def colour_threshold_detector(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (M, 4), scores (M,), class ids (M,)) of saturated blobs (see the docstring)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    mask = (hsv[:, :, 1] > 90).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes, scores, ids = [], [], []
    for k in range(1, count):
        x, y, w, h, area = stats[k]
        if area < 30:
            continue
        mean = image[labels == k].reshape(-1, 3).astype(np.float32).mean(0)
        ids.append(int(np.argmin(np.linalg.norm(SCENE_COLOURS - mean, axis=1))))
        boxes.append((x, y, x + w, y + h))
        scores.append(float(hsv[:, :, 1][labels == k].mean()) / 255.0)
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
            np.asarray(ids, np.int64))


def main(argv: list[str] | None = None) -> int:
    from engine.features.teach.detection.evaluate import evaluate_detector
    from engine.features.teach.detection.scenes import scenes_dataset
    from engine.features.teach.detection.trained import TrainedDetector
    from engine.features.teach.detection.training import (
        DetectorTrainSettings,
        estimate_training_seconds,
        train_detector,
    )
    from engine.models.yolox.model import build_yolox
    from engine.models.yolox.pretrained import init_class_layers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--arch", choices=("nano", "tiny"), default="nano")
    parser.add_argument("--size", type=int, default=320)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=None)
    length.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default=None, help="torch threads (default: the bench budget)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (default: the app's choice)")
    args = parser.parse_args(argv)
    from engine.runtime.device import DEVICE_ENV, choose_device

    device = choose_device(args.device)  # refuses a device this machine lacks, before any work
    os.environ[DEVICE_ENV] = str(device)  # what train_detector's choose_device(None) reads

    with tempfile.TemporaryDirectory() as tmp:
        dataset = scenes_dataset(tmp, count=args.scenes, seed=args.seed)
        settings = DetectorTrainSettings(arch=args.arch, input_size=args.size, epochs=args.epochs,
                                         minutes=args.minutes, untrained=True, seed=args.seed)
        _, held_out = dataset.split(settings.val_fraction, settings.seed)
        print(f"scenes: {len(dataset.images)} ({len(dataset.images) - len(held_out.images)} train, "
              f"{len(held_out.images)} held out), {dataset.box_count} boxes, classes {', '.join(dataset.classes)}")
        print(f"model: YOLOX-{args.arch} from scratch, input {args.size}x{args.size}, device {device}, "
              f"threads {torch.get_num_threads()}")
        estimate = estimate_training_seconds(dataset, settings)
        print(f"estimate: {estimate:.0f} s", flush=True)

        maps: list[tuple[int, float, float]] = []

        def progress(p) -> None:
            if p.map50 is not None:
                maps.append((p.step, p.map50, p.map50_95))
                print(f"  step {p.step}/{p.steps} epoch {p.epoch}: loss {p.loss:.3f}, held-out mAP@0.5 {p.map50:.3f}, "
                      f"mAP@0.5:0.95 {p.map50_95:.3f} at {p.elapsed_s:.0f} s", flush=True)

        began = time.perf_counter()
        trained = train_detector(dataset, settings, progress=progress, situation="bench")
        seconds = time.perf_counter() - began
        m = trained.evaluation.metrics
        print(f"training time: {seconds:.1f} s ({trained.info['steps']} steps, {trained.info['epochs']} epochs)")
        print(f"trained held-out mAP@0.5: {m.map50:.3f}")
        print(f"trained held-out mAP@0.5:0.95: {m.map50_95:.3f}")
        print("trained AP@0.5 per class: " + ", ".join(f"{c} {a:.3f}" for c, a in zip(m.classes, m.ap50)))

        torch.manual_seed(args.seed)
        start = build_yolox(args.arch, len(dataset.classes))
        init_class_layers(start)
        untrained = TrainedDetector(start, dataset.classes, args.arch, args.size)
        u = evaluate_detector(untrained.predict, held_out).metrics
        print(f"peer untrained network held-out mAP@0.5: {u.map50:.3f}, mAP@0.5:0.95: {u.map50_95:.3f}")
        c = evaluate_detector(colour_threshold_detector, held_out).metrics
        print(f"peer colour threshold held-out mAP@0.5: {c.map50:.3f}, mAP@0.5:0.95: {c.map50_95:.3f}")
        t0 = time.perf_counter()
        image = cv2.imread(str(held_out.images[0].image_path))
        for _ in range(10):
            trained.predict(image)
        print(f"predict: {(time.perf_counter() - t0) * 100:.1f} ms per 320x240 picture")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
