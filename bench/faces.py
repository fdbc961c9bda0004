#!/usr/bin/env python3
"""Faces benchmark: dlib's pipeline ours vs dlib itself, recognition fps, gallery search.

    python bench/faces.py                      # everything, on the default device (CUDA if any)
    python bench/faces.py --device cpu --sizes 1000,100000 --dims 512
    python bench/faces.py --skip-recognition   # search only
    python bench/faces.py --only-dlib          # ours/dlib per stage and end to end

dlib comparison: the same 640x480 frame through face_recognition's four steps —
MMOD detection (upsample 0 and 1), 5-point landmarks, the 150 px chip, the 128-d
descriptor — once with our PyTorch port and once with dlib (the dlib-bin wheel, when
installed), in the same run; prints median milliseconds per stage and ours/dlib.

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

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_search(device: torch.device, sizes: list[int], dims: list[int], queries: int) -> None:
    from engine.features.faces.search import VectorIndex

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
    from engine.core.frame import Frame
    from engine.features.faces.detectors import HaarDetector
    from engine.features.faces.embedders import LBPEmbedder
    from engine.features.faces.gallery import Gallery
    from engine.features.faces.recognizer import FaceRecognizer
    from engine.features.faces.task import FacesTask

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


def dlib_frame() -> np.ndarray:
    """A 640x480 RGB frame with the astronaut's face (~90 px) in it."""
    import skimage.data

    rgb = skimage.data.astronaut()
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 80:560] = cv2.resize(rgb, (480, 480), interpolation=cv2.INTER_AREA)
    return frame


def _median_ms(fn, repeats: int, device: torch.device | None = None):
    out, times = None, []
    for _ in range(repeats):
        if device is not None:
            _sync(device)
        t0 = time.perf_counter()
        out = fn()
        if device is not None:
            _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def bench_dlib(device: torch.device, repeats: int, upsamples: list[int]) -> None:
    """Ours vs dlib, stage by stage, on one frame (boxes/landmarks from each side's own detector)."""
    from engine.features.faces.dlib_chip import face_chip
    from engine.features.faces.dlib_mmod import load_mmod
    from engine.features.faces.dlib_models import MMOD_FILE, RESNET_FILE, SHAPE5_FILE, packaged_file
    from engine.features.faces.dlib_resnet import load_resnet
    from engine.features.faces.dlib_shape import load_shape_predictor

    if packaged_file(RESNET_FILE) is None:
        print("dlib pipeline: skipped (face-recognition-models is not installed)")
        return
    rgb = dlib_frame()
    mmod = load_mmod(packaged_file(MMOD_FILE), device)
    shape = load_shape_predictor(packaged_file(SHAPE5_FILE))
    resnet = load_resnet(packaged_file(RESNET_FILE)).to(device)
    if device.type == "cuda":
        resnet = resnet.half()
    try:
        import dlib  # the oracle, a test-only dependency
    except ImportError:
        dlib = None
        print("dlib pipeline: dlib is not installed (pip install dlib-bin): timing ours only")
    if dlib is not None:
        d_det = dlib.cnn_face_detection_model_v1(str(packaged_file(MMOD_FILE)))
        d_sp = dlib.shape_predictor(str(packaged_file(SHAPE5_FILE)))
        d_rec = dlib.face_recognition_model_v1(str(packaged_file(RESNET_FILE)))

    def embed(chip):
        with torch.inference_mode():
            x = resnet.prepare(torch.from_numpy(chip)[None])
            return resnet(x.half() if device.type == "cuda" else x).float().cpu().numpy()

    def paired(ours_fn, dlib_fn, repeats):
        """Median ms of both, calls interleaved so a busy machine slows both alike."""
        t_ours, t_dlib, out_ours, out_dlib = [], [], None, None
        for _ in range(repeats):
            ms, out_ours = _median_ms(ours_fn, 1, device)
            t_ours.append(ms)
            if dlib_fn is not None:
                ms, out_dlib = _median_ms(dlib_fn, 1)
                t_dlib.append(ms)
        return statistics.median(t_ours), out_ours, (statistics.median(t_dlib) if t_dlib else None), out_dlib

    for up in upsamples:
        mmod.detect(rgb, up)  # warm-up (also builds CUDA kernels)
        ours, theirs = {}, {}
        n = max(1, min(repeats, 3)) if up else repeats  # dlib needs seconds per frame at upsample 1
        ours["detect"], dets, theirs["detect"], d_dets = paired(
            lambda: mmod.detect(rgb, up), (lambda: d_det(rgb, up)) if dlib else None, n)
        if not dets:
            print(f"dlib pipeline upsample {up}: our detector found no face; skipped")
            continue
        rect = np.array([dets[0].rect])
        d_rect = d_dets[0].rect if dlib else None
        ours["landmarks"], pts, theirs["landmarks"], d_shape = paired(
            lambda: shape.predict(rgb, rect)[0], (lambda: d_sp(rgb, d_rect)) if dlib else None, repeats)
        ours["chip"], chip, theirs["chip"], d_chip = paired(
            lambda: face_chip(rgb, pts), (lambda: dlib.get_face_chip(rgb, d_shape, 150, 0.25)) if dlib else None, repeats)
        embed(chip)
        ours["descriptor"], _, theirs["descriptor"], _ = paired(
            lambda: embed(chip), (lambda: d_rec.compute_face_descriptor(d_chip)) if dlib else None, repeats)
        ours["end to end"] = sum(ours.values())
        if dlib:
            theirs["end to end"] = sum(theirs.values())
        for stage, ms in ours.items():
            line = f"dlib pipeline upsample {up} {stage:<11} on {device.type}: ours {ms:9.1f} ms"
            if theirs.get(stage):
                line += f", dlib {theirs[stage]:9.1f} ms, ours/dlib {ms / theirs[stage]:.3f}"
            print(line, flush=True)


def _install_random_facenet(task) -> None:
    """Point the task at a randomly initialised FaceNet checkpoint in a temporary cache."""
    from engine.features.faces.inception_resnet_v1 import InceptionResnetV1
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

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
    parser.add_argument("--embedders", default="dlib-resnet,lbp,facenet-random,sface",
                        help="dlib-resnet, lbp, facenet-random, facenet-vggface2, sface")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--skip-recognition", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--only-dlib", action="store_true", help="only the ours-vs-dlib pipeline comparison")
    parser.add_argument("--skip-dlib", action="store_true", help="no ours-vs-dlib pipeline comparison")
    parser.add_argument("--dlib-repeats", type=int, default=5, help="repetitions per stage (dlib at upsample 1: at most 3)")
    parser.add_argument("--upsample", default="0,1", help="MMOD upsampling levels to compare")
    args = parser.parse_args()

    from engine.runtime.device import choose_device, device_label

    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    print(f"device: {device_label(device)}; torch {torch.__version__}; opencv {cv2.__version__}")
    if not args.skip_dlib:
        bench_dlib(device, args.dlib_repeats, [int(u) for u in args.upsample.split(",")])
    if args.only_dlib:
        return 0
    if not args.skip_search:
        bench_search(device, [int(s) for s in args.sizes.split(",")], [int(d) for d in args.dims.split(",")], args.queries)
    if not args.skip_recognition:
        bench_recognition(device, args.frames, args.embedders.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
