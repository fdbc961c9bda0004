"""Time to a compiled network, first and next launch, and its speed (engine.runtime.compiled).

    python bench/compile_launch.py --store DIR [--model yolov4-tiny] [--size 416] [--dtype fp32]
                                   [--rounds 20] [--in-process] [--compiler aoti|torch] [--threads N]

One launch per run: run it twice with the same ``--store`` (a fresh process each) to see
the first launch (nothing stored: export + AOTInductor compile + write) and the next
(the stored package loaded and checked). Darknet networks get seeded random weights
(calibrated_random_model, fused, channels_last, as the live detector builds them), YOLOX
ones (``--model yolox-nano`` ...) seeded untrained ones, fused and channels_last; the
values do not change the speed, and the same seed gives the same weights digest, hence
the same package, in every run.

Prints: seconds from the ``BackgroundCompiled`` construction to its "compiled" state
(eager frames served meanwhile, as in the app), whether it came from disk, then ms per
call (median of ``--rounds`` rounds, the variants interleaved in each round): eager and
the served compiled network; with ``--in-process`` also ``torch.compile`` (inductor,
frozen weights, C++ wrapper) compiled in this process, for comparison. ``--compiler
torch`` serves through ``torch.compile`` only, without the store (the path before packages
were kept: its second launch finds only inductor's own caches, in ``$TORCHINDUCTOR_CACHE_DIR``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.runtime.threads import prepare_process, threads_argument  # noqa: E402

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import torch  # noqa: E402


def build(name: str, dtype: torch.dtype) -> torch.nn.Module:
    if name.startswith("yolox-"):  # seeded: the same weights digest in every run
        from engine.models.yolox.model import build_yolox

        torch.manual_seed(0)
        model = build_yolox(name.split("-", 1)[1]).fuse().eval().to(dtype=dtype)
        return model.to(memory_format=torch.channels_last)
    from engine.features.detect.backends.darknet.cfg import parse_cfg
    from engine.features.detect.backends.darknet.random_weights import calibrated_random_model
    from engine.features.detect.names import bundled_path

    model = calibrated_random_model(parse_cfg(bundled_path(f"{name}.cfg"))).fuse().eval().to(dtype=dtype)
    return model.to(memory_format=torch.channels_last)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="folder of the compiled-network store")
    parser.add_argument("--model", default="yolov4-tiny")
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--in-process", action="store_true", help="also time torch.compile compiled here")
    parser.add_argument("--compiler", default="aoti", choices=("aoti", "torch"),
                        help="aoti: the default (packages kept in --store); torch: torch.compile, no store")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from engine.runtime.compiled import BackgroundCompiled, inductor, inductor_cpp, mismatch, tolerance_for
    from engine.runtime.compiled_store import CompileStore

    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = build(args.model, dtype)
    x = torch.rand(1, 3, args.size, args.size, dtype=dtype).contiguous(memory_format=torch.channels_last)
    store = CompileStore(args.store)
    t = time.perf_counter()
    key = store.key(model, x)
    print(f"store key {key}: {1000 * (time.perf_counter() - t):.0f} ms (weights digest included)")

    with torch.inference_mode():
        started = time.perf_counter()
        if args.compiler == "torch":
            net = BackgroundCompiled(model, x, name=args.model, compiler=(inductor_cpp, inductor), store=False)
        else:
            net = BackgroundCompiled(model, x, name=args.model, store=store)
        frames = 0
        while not net.wait(0):
            net(x)
            frames += 1
        ready = time.perf_counter() - started
        print(f"{net.state} after {ready:.1f} s ({frames} eager frames meanwhile); loaded_from_disk={net.loaded_from_disk}"
              f"{'; ' + net.note if net.note else ''}")
        variants = {"eager": model, "served": net}
        if args.in_process:
            t = time.perf_counter()
            compiled = inductor_cpp(model)
            compiled(x)
            print(f"torch.compile in process: {time.perf_counter() - t:.1f} s")
            variants["in-process"] = compiled
        want = model(x)
        for label, fn in variants.items():
            problem = mismatch(fn(x), want, tolerance_for(dtype))
            print(f"{label}: {'agrees with eager' if problem is None else problem}")
        times: dict[str, list[float]] = {label: [] for label in variants}
        for _ in range(args.rounds):
            for label, fn in variants.items():
                t = time.perf_counter()
                fn(x)
                times[label].append(1000 * (time.perf_counter() - t))
    for label, values in times.items():
        print(f"{label:>10}: median {statistics.median(values):6.1f} ms, min {min(values):6.1f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
