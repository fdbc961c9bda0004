"""Ours against other CPU runtimes on the same network: bench/detect.py --peers.

    python bench/detect.py --peers openvino,onnxruntime [--model yolov4-tiny] [--size 416x416]
                           [--precision fp32] [--peer-precision default|f32] [--threads 2]

The same network (our ONNX export of the detector we run, float32), the same frames,
interleaved frame by frame in one process (rotating order, so background load hits all
alike), each runtime with the same thread count. Two measurements:

- "network": the network alone on one ready input (ours: the detector's ``forward`` as the
  app runs it, packed/compiled/bf16 as built; peers: their compiled model on the same
  input as a float32 NCHW array).
- "end to end": 640x480 BGR frame in -> final boxes out. The peers get OUR preprocessing
  (``detector.prepare``: resize as the model's transforms say, RGB, scale) and OUR
  decoding, thresholds and NMS (``detector.finish`` on their outputs), so only the network
  runtime differs; the NCHW copy of the input that they need is counted against them.

OpenVINO and ONNX Runtime are bench/test dependencies only. OpenVINO's default inference
precision is bf16 on CPUs with AMX/AVX512-BF16 and f32 elsewhere; ``--peer-precision f32``
forces f32 (the comparison for CPUs without bf16 and for ours in fp32). The runtimes and
the interleaved loop are bench/peer_runtimes.py's (bench/peers.py uses them for the other
live networks).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from bench.peer_runtimes import flatten, interleave, make_peers, rebuild


def run_peers(detector, names: list[str], frames: list[np.ndarray], *, rounds: int, threads: int,
              peer_precision: str, label: str, oracle: list[np.ndarray],
              others: dict[str, Any] | None = None, ours_threads: int | None = None) -> dict[str, float]:
    """Measure ``detector`` (ours, as built) against ``names`` peers; print the table and
    return {"<peer> network": ours/peer, "<peer> end to end": ours/peer, ...}. ``others``:
    more of ours ({variant: detector}, e.g. "bf16-compiled"), timed in the same
    interleaved loop, with ratios "<variant>/<peer> <part>" (the peers run ``detector``'s export).
    ``ours_threads``: torch's thread count for ours when it differs from the peers' ``threads``
    (the caller set it; only printed here)."""
    from engine.features.detect.onnx_export import export_onnx

    tmp = tempfile.TemporaryDirectory()
    path = export_onnx(detector, Path(tmp.name) / "model.onnx")
    peers = make_peers(names, path, threads, peer_precision)

    with torch.inference_mode():
        prepared = detector.prepare(frames[0])
        prepared = (prepared[0].clone(), *prepared[1:])
        template = detector.forward(prepared)
    x0 = prepared[0].float().contiguous().numpy()

    def ours_network(_frame):
        with torch.inference_mode():
            detector.forward(prepared)

    def ours_e2e(frame):
        return detector.detect(frame)

    def peer_network(peer):
        return lambda _frame: peer.run(x0)

    def peer_e2e(peer):
        def run(frame):
            with torch.inference_mode():
                ready = detector.prepare(frame)
                x = ready[0].float().contiguous().numpy()
                raw = rebuild(template, [torch.from_numpy(a) for a in peer.run(x)])
                return detector.finish(raw, ready)
        return run

    benches: dict[str, Callable] = {"ours network": ours_network, "ours end to end": ours_e2e}
    others = others or {}
    for variant, other in others.items():
        with torch.inference_mode():
            other_prepared = other.prepare(frames[0])

        def other_network(_frame, other=other, ready=other_prepared):
            with torch.inference_mode():
                other.forward(ready)

        benches[f"ours {variant} network"] = other_network
        benches[f"ours {variant} end to end"] = other.detect
    for peer in peers:
        benches[f"{peer.name} network"] = peer_network(peer)
        benches[f"{peer.name} end to end"] = peer_e2e(peer)

    # The peers compute what ours computes: largest difference of the raw outputs, and
    # the boxes on the oracle pictures.
    with torch.inference_mode():
        ours_raw = [t.float().numpy() for t in flatten(detector.forward(prepared))]
    for peer in peers:
        diff = max(float(np.abs(a - b).max()) for a, b in zip(ours_raw, peer.run(x0)))
        same = sum(len(ours_e2e(im)) == len(benches[f"{peer.name} end to end"](im)) for im in oracle)
        print(f"  {peer.name} ({peer.precision}): max |raw output difference| {diff:.2e}; "
              f"same number of boxes on {same}/{len(oracle)} oracle pictures")

    names_ = list(benches)
    times = interleave({k: (lambda i, fn=fn: fn(frames[i])) for k, fn in benches.items()}, len(frames), rounds)
    median = {k: statistics.median(v) for k, v in times.items()}
    each = (f"{threads} threads each" if ours_threads in (None, threads)
            else f"ours {ours_threads} thread(s), the peers {threads}")
    print(f"ours = {label}, {each}, {rounds} rounds x {len(frames)} frames (640x480 BGR), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}, load average {os.getloadavg()[0]:.2f}")
    for name in names_:
        print(f"  {name:<34} median {median[name]:8.2f} ms/frame ({1000.0 / median[name]:6.1f} frames/s)")
    ratios = {}
    for peer in peers:
        for part in ("network", "end to end"):
            ours, theirs = times[f"ours {part}"], times[f"{peer.name} {part}"]
            ratio = median[f"ours {part}"] / median[f"{peer.name} {part}"]
            paired = statistics.median(a / b for a, b in zip(ours, theirs))
            ratios[f"{peer.name} {part}"] = ratio
            print(f"  ours/{peer.name} ({peer.precision}) {part:<11}: {ratio:.3f} "
                  f"(median of per-frame ratios {paired:.3f}; < 1 means ours is faster)")
            for variant in others:
                mine = times[f"ours {variant} {part}"]
                ratio = median[f"ours {variant} {part}"] / median[f"{peer.name} {part}"]
                ratios[f"{variant}/{peer.name} {part}"] = ratio
                print(f"  ours {variant}/{peer.name} ({peer.precision}) {part:<11}: {ratio:.3f} "
                      f"(median of per-frame ratios {statistics.median(a / b for a, b in zip(mine, theirs)):.3f})")
    tmp.cleanup()
    return ratios
