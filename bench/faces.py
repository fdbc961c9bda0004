#!/usr/bin/env python3
"""Faces benchmark: recognition frames per second (1 and 5 faces) and gallery search time.

    python bench/faces.py                      # everything, on the default device (CUDA if any)
    python bench/faces.py --device cpu --sizes 1000,100000 --dims 512
    python bench/faces.py --skip-recognition   # search only

Recognition runs the real FacesTask (Haar detection, alignment, batched embedding,
matching, tracking) on synthetic frames built from scikit-image's astronaut photo.
FaceNet is timed with randomly initialised weights when no checkpoint is installed
(same architecture, same cost). Search uses synthetic unit vectors; each number is the
median over many single-query top-1 searches, after warm-up.
Prints plain lines "name: value" so runs can be compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.threads import prepare_process, threads_argument  # noqa: E402  (imports no torch)

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_search(device: torch.device, sizes: list[int], dims: list[int], queries: int) -> None:
    from engine.faces.search import VectorIndex

    rng = np.random.default_rng(0)
    for dim in dims:
        for n in sizes:
            index = VectorIndex(dim, "cosine", device, capacity=n)
            chunk = 100_000
            for start in range(0, n, chunk):  # fill in chunks to bound host memory
                m = min(chunk, n - start)
                v = rng.standard_normal((m, dim), dtype=np.float32)
                v /= np.linalg.norm(v, axis=1, keepdims=True)
                index.add(range(start, start + m), v, range(start, start + m))
            q = rng.standard_normal((queries, dim), dtype=np.float32)
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            for i in range(5):
                index.search(q[i], k=1)
            times = []
            for i in range(queries):
                _sync(device)
                t0 = time.perf_counter()
                index.search(q[i], k=1)
                _sync(device)
                times.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            index.search(q, k=1, per_label=False)
            _sync(device)
            batch_ms = (time.perf_counter() - t0) * 1000 / len(q)
            print(f"search top-1 {n:>9,} x {dim}-d on {device.type}: median {statistics.median(times):.2f} ms, "
                  f"p90 {np.percentile(times, 90):.2f} ms, batched {batch_ms:.3f} ms/query", flush=True)
            del index
            if device.type == "cuda":
                torch.cuda.empty_cache()


def scene(faces: int) -> np.ndarray:
    """A 1280x720 BGR frame holding ``faces`` copies of the astronaut's head and shoulders."""
    import skimage.data

    person = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)[0:300, 100:380]  # head + shoulders
    frame = np.full((720, 1280, 3), 90, np.uint8)
    if faces == 1:
        whole = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
        frame[50:670, 330:950] = cv2.resize(whole, (620, 620))
        return frame
    tile = cv2.resize(person, (240, 258))
    spots = [(40, 60), (40, 520), (40, 980), (400, 290), (400, 750)][:faces]
    for i, (y, x) in enumerate(spots):
        variant = tile if i % 2 == 0 else np.ascontiguousarray(tile[:, ::-1])
        frame[y:y + 258, x:x + 240] = cv2.convertScaleAbs(variant, alpha=1.0, beta=8 * i)
    return frame


def bench_recognition(device: torch.device, frames: int, embedders: list[str]) -> None:
    from engine.faces.detectors import HaarDetector
    from engine.faces.embedders import LBPEmbedder
    from engine.faces.gallery import Gallery
    from engine.faces.recognizer import FaceRecognizer
    from engine.faces.task import FacesTask
    from engine.sources import Frame

    folder = tempfile.mkdtemp(prefix="faces-bench-")
    gallery = Gallery(os.path.join(folder, "gallery.db"))
    import skimage.data

    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    FaceRecognizer(HaarDetector(), LBPEmbedder(), gallery).enrol("Eileen", [("astronaut", astronaut)])
    for name in embedders:
        task = FacesTask(embedder=None if name == "facenet-random" else name, gallery=gallery)
        if name == "facenet-random":
            _install_random_facenet(task)
        try:
            task.load(device)
        except Exception as exc:  # a model that is not installed is reported, not fatal
            print(f"recognition {name}: skipped ({exc})")
            continue
        for count in (1, 5):
            image = scene(count)
            found = len(task.recognizer.detector.detect(image))
            times, stage = [], {"detect+align": [], "embed": [], "match+track": []}
            with torch.inference_mode():
                for i in range(frames + 3):
                    frame = Frame(image=image, index=i, timestamp=time.monotonic(), source="bench")
                    t0 = time.perf_counter()
                    inputs = task.preprocess(frame)
                    t1 = time.perf_counter()
                    outputs = task.infer(inputs)
                    _sync(device)
                    t2 = time.perf_counter()
                    task.postprocess(outputs, frame)
                    t3 = time.perf_counter()
                    if i >= 3:  # warm-up frames are not counted
                        times.append(t3 - t0)
                        stage["detect+align"].append(t1 - t0)
                        stage["embed"].append(t2 - t1)
                        stage["match+track"].append(t3 - t2)
            parts = ", ".join(f"{k} {1000 * statistics.median(v):.1f} ms" for k, v in stage.items())
            print(f"recognition {task.recognizer.embedder.name:<16} {count} face(s) ({found} found) on {device.type}: "
                  f"{1 / statistics.median(times):.1f} fps ({parts})", flush=True)
        task.close()
    gallery.close()


def _install_random_facenet(task) -> None:
    """Point the task at a randomly initialised FaceNet checkpoint in a temporary cache."""
    from engine.faces.inception_resnet_v1 import InceptionResnetV1
    from engine.weights.cache import WeightsCache
    from engine.weights.catalog import catalog

    cache = WeightsCache(tempfile.mkdtemp(prefix="faces-bench-models-"))
    path = os.path.join(tempfile.mkdtemp(), "random.pt")
    torch.save(InceptionResnetV1().state_dict(), path)
    cache.import_file(catalog().get("facenet-vggface2"), path, force=True)
    task._cache = cache
    task.embedder_name = "facenet-vggface2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    parser.add_argument("--sizes", default="1000,100000,1000000", help="gallery sizes (identities)")
    parser.add_argument("--dims", default="128,512", help="vector sizes (SFace 128, FaceNet 512)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--embedders", default="lbp,facenet-random,sface", help="lbp, facenet-random, facenet-vggface2, sface")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--skip-recognition", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()

    from engine.device import choose_device, device_label

    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    print(f"device: {device_label(device)}; torch {torch.__version__}; opencv {cv2.__version__}")
    if not args.skip_search:
        bench_search(device, [int(s) for s in args.sizes.split(",")], [int(d) for d in args.dims.split(",")], args.queries)
    if not args.skip_recognition:
        bench_recognition(device, args.frames, args.embedders.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
