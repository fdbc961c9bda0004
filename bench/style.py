#!/usr/bin/env python3
"""Style transfer speed: our Gatys engine vs a plain implementation of the PyTorch
tutorial's algorithm; live frames per second of the fast presets and AdaIN; flicker with
and without the flow stabiliser.

    python bench/style.py [--size 512] [--steps 300] [--live-size 640x480] [--live-frames 20]
                          [--device cpu|cuda] [--skip-photo] [--skip-live] [--threads N]
                          [--large 2048 [--large-steps 3] [--low-memory]] [--save DIR]
    python bench/style.py --skip-photo --live-matrix [--seconds 4]   # the fast/AdaIN fps table

Live matrix: frames of 320x240 and 640x480, BGR in -> BGR out (resize, network, sharp
upsample), for the fast TransformerNet (eager NCHW, channels_last, TorchScript-frozen) and
AdaIN, each at full size and at half the long side, with 1 and 2 intra-op threads. The
"peer" is how live AdaIN ran before (full size, 2 threads), measured in the same run.
Numbers on a shared machine move with its load: the 1-minute load average is printed.

Photo mode: both run the same VGG-19 weights, content/style images, output size, number
of loss evaluations ("steps"), layers (content conv4_2; style conv1_1..conv5_1) and cost
(the course's J = alpha J_content + beta J_style + TV, same weights), each starting from
the content image with L-BFGS. The reference is the tutorial's structure: loss modules
inserted into a copy of VGG's ``features`` (non-inplace ReLUs, cut after the last loss
layer), one full-resolution optimisation, the image clamped in the closure. Ours adds
coarse-to-fine levels and in-place ReLUs where no feature is read. Final loss: both final
images scored by the same objective at full size.

The trained VGG-19 / AdaIN weights are used when installed (`models fetch vgg19`);
otherwise randomly initialised weights in the same layout (speed does not depend on the
values; loss values then only compare the two implementations with each other).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent))  # run from anywhere: the engine lives in the repository root

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from engine.features.style.gatys import GatysSettings, StyleObjective, run_to_end, stylize
from engine.features.style.imaging import bgr_to_tensor, resize_to, size_for_long_side, tensor_to_bgr
from engine.features.style.vgg import IMAGENET_MEAN, IMAGENET_STD, LAYERS, VGGFeatures, normalise_state_dict

PRESETS = _HERE.parent / "resources" / "styles"


# ----------------------------------------------------------------------------- reference


class _Normalise(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class _ContentLoss(nn.Module):
    """Transparent layer that records the content cost of its input (course formula)."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape[1:]
        self.loss = ((x - self.target) ** 2).sum() / (4 * c * h * w)
        return x


def _gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.view(b * c, h * w)
    return torch.mm(f, f.t()) / (h * w)


class _StyleLoss(nn.Module):
    """Transparent layer that records the style cost of its input (course formula)."""

    def __init__(self, target_feature: torch.Tensor) -> None:
        super().__init__()
        self.target = _gram(target_feature).detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        self.loss = ((_gram(x) - self.target) ** 2).sum() / (4 * c * c)
        return x


def reference_transfer(vgg_state: dict, content: torch.Tensor, style: torch.Tensor, settings: GatysSettings) -> tuple[torch.Tensor, int]:
    """The tutorial's run_style_transfer, with the course's costs; returns (image, evaluations)."""
    weights = normalise_state_dict(vgg_state)
    features = nn.Sequential()
    for name, index, cin, cout in LAYERS:
        if name.startswith("conv"):
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            conv.weight.data.copy_(weights[f"{index}.weight"])
            conv.bias.data.copy_(weights[f"{index}.bias"])
            features.add_module(name, conv)
        elif name.startswith("relu"):
            features.add_module(name, nn.ReLU(inplace=False))
        else:
            features.add_module(name, nn.MaxPool2d(2, 2))
    features = features.to(content.device).eval().requires_grad_(False)

    style_layers = dict(settings.style_layers)
    model = nn.Sequential(_Normalise().to(content.device))
    content_losses, style_losses = [], []
    for name, layer in features.named_children():
        model.add_module(name, layer)
        if name == settings.content_layer:
            loss = _ContentLoss(model(content).detach())
            model.add_module(f"content_loss_{name}", loss)
            content_losses.append(loss)
        if name in style_layers:
            loss = _StyleLoss(model(style).detach())
            model.add_module(f"style_loss_{name}", loss)
            style_losses.append((loss, style_layers[name]))
    last = max(i for i, m in enumerate(model.children()) if isinstance(m, (_ContentLoss, _StyleLoss)))
    model = model[: last + 1]

    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image])
    run = [0]
    beta = settings.style_weight * settings.style_strength

    def closure() -> torch.Tensor:
        with torch.no_grad():
            image.clamp_(0, 1)
        optimizer.zero_grad()
        model(image)
        style_score = sum(w * sl.loss for sl, w in style_losses)
        content_score = sum(cl.loss for cl in content_losses)
        dy = image[..., 1:, :] - image[..., :-1, :]
        dx = image[..., :, 1:] - image[..., :, :-1]
        tv = dy.pow(2).mean() + dx.pow(2).mean()
        loss = settings.content_weight * content_score + beta * style_score + settings.tv_weight * tv
        loss.backward()
        run[0] += 1
        return loss

    while run[0] < settings.steps:
        # the tutorial loops `while run <= num_steps` with 20 evaluations per step();
        # capping the last step keeps the evaluation count equal to ours
        optimizer.param_groups[0]["max_iter"] = min(20, settings.steps - run[0])
        optimizer.param_groups[0]["max_eval"] = optimizer.param_groups[0]["max_iter"]
        optimizer.step(closure)
    with torch.no_grad():
        image.clamp_(0, 1)
    return image.detach(), run[0]


# ----------------------------------------------------------------------------- inputs and scoring


def _weights(device: torch.device) -> tuple[dict, str]:
    from engine.features.style import models

    try:
        return models.load_vgg19(), "trained vgg19 (installed)"
    except Exception:
        from engine.features.style.vgg import random_vgg19_state_dict

        return random_vgg19_state_dict(0), "random-init VGG-19 (trained weights not installed here)"


def _content_image(size: int) -> np.ndarray:
    """A synthetic 'photo' (gradient sky, hills, sun), 4:3, long side ``size``."""
    h, w = size_for_long_side(3, 4, size)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.dstack([200 - 80 * y / h, 170 - 40 * y / h, 120 + 60 * y / h]).astype(np.uint8)
    hills = (h * 0.6 + h * 0.08 * np.sin(x[0] / w * 7.0)).astype(int)
    for col in range(w):
        image[hills[col]:, col] = (40, 120 + (col * 37) % 40, 60)
    cv2.circle(image, (int(w * 0.75), int(h * 0.25)), max(4, h // 10), (80, 220, 250), -1)
    return image


def _score(vgg_state: dict, settings: GatysSettings, content: np.ndarray, style: np.ndarray, image: np.ndarray, device) -> dict:
    layers = [settings.content_layer, *dict(settings.style_layers)]
    extractor = VGGFeatures(vgg_state, layers).to(device)
    objective = StyleObjective(extractor, settings, content, [(style, 1.0)], device)
    with torch.no_grad():
        return {k: float(v) for k, v in objective(bgr_to_tensor(image, device)).items()}


def bench_photo(args: argparse.Namespace, device: torch.device) -> None:
    vgg_state, weights_note = _weights(device)
    settings = GatysSettings(size=args.size, steps=args.steps)
    content = _content_image(args.size)
    style_path = PRESETS / "embers.png"
    style = cv2.imread(str(style_path))
    h, w = content.shape[:2]
    style = resize_to(style, h, w)  # the tutorial needs content and style of one size
    print(f"photo mode: {w}x{h}, {args.steps} L-BFGS evaluations, {weights_note}, device {device}, "
          f"torch threads {torch.get_num_threads()}")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    ours = run_to_end(stylize(content, [style], settings, vgg_state, device, preview_every=0))
    sync()
    t_ours = time.perf_counter() - t0

    sync()
    t0 = time.perf_counter()
    ref_tensor, ref_evals = reference_transfer(vgg_state, bgr_to_tensor(content, device), bgr_to_tensor(style, device), settings)
    sync()
    t_ref = time.perf_counter() - t0
    ref_image = tensor_to_bgr(ref_tensor)

    loss_ours = _score(vgg_state, settings, content, style, ours.image, device)["total"]
    loss_ref = _score(vgg_state, settings, content, style, ref_image, device)["total"]
    print(f"  ours      : {t_ours:8.1f} s  ({ours.steps} evaluations, levels {settings.level_sides()})  final J = {loss_ours:.5g}")
    print(f"  reference : {t_ref:8.1f} s  ({ref_evals} evaluations, one level)           final J = {loss_ref:.5g}")
    print(f"  speed-up  : {t_ref / t_ours:.2f}x   final loss ours/reference = {loss_ours / loss_ref:.3f} "
          f"({'equal or lower' if loss_ours <= loss_ref * 1.0005 else 'higher'})")
    if args.save:
        cv2.imwrite(str(Path(args.save) / "bench_ours.png"), ours.image)
        cv2.imwrite(str(Path(args.save) / "bench_reference.png"), ref_image)


def bench_large(args: argparse.Namespace, device: torch.device) -> None:
    """A few steps at a large size with the default layers: time and peak memory."""
    import resource

    vgg_state, weights_note = _weights(device)
    settings = GatysSettings(size=args.large, steps=args.large_steps, low_memory=args.low_memory)
    content = _content_image(1024)
    style = cv2.imread(str(PRESETS / "embers.png"))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = run_to_end(stylize(content, [style], settings, vgg_state, device, preview_every=0))
    elapsed = time.perf_counter() - t0
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    gpu = f", GPU peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device.type == "cuda" else ""
    h, w = result.image.shape[:2]
    mode = "low-memory" if settings.low_memory else "default"
    print(f"large output ({mode}): {w}x{h}, {result.steps} evaluations over levels {settings.level_sides()}, {weights_note}: "
          f"{elapsed:.1f} s, process peak RSS {peak_rss_gib:.2f} GiB{gpu}; notices: {list(result.notices) or 'none'}")


def bench_live(args: argparse.Namespace, device: torch.device) -> None:
    from engine.features.style.adain import AdaINStylizer, random_decoder_state, random_encoder_state

    try:
        from engine.features.style import models

        model = models.load_adain(device)
        note = "trained AdaIN (installed)"
    except Exception:
        model = AdaINStylizer(random_encoder_state(0), random_decoder_state(0), device)
        note = "random-init AdaIN (trained weights not installed here)"
    lw, lh = (int(v) for v in args.live_size.lower().split("x"))
    frame = resize_to(_content_image(max(lw, lh)), lh, lw)
    t0 = time.perf_counter()
    stats = model.style_stats(cv2.imread(str(PRESETS / "mosaic.png")), name="mosaic")
    t_stats = time.perf_counter() - t0
    x = bgr_to_tensor(frame, device)
    for _ in range(2):  # warm-up (allocator, cuDNN autotune)
        model.stylize_tensor(x, stats, 0.8)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.live_frames):
        image = tensor_to_bgr(model.stylize_tensor(bgr_to_tensor(frame, device), stats, 0.8))
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    assert image.shape == frame.shape
    print(f"live AdaIN: {lw}x{lh}, {note}, device {device}: {args.live_frames / elapsed:.2f} fps "
          f"({1000 * elapsed / args.live_frames:.0f} ms per frame, BGR in -> BGR out); "
          f"style statistics once: {1000 * t_stats:.0f} ms")


def _fps(fn, seconds: float, min_frames: int = 3) -> tuple[float, float]:
    """(wall-clock fps, CPU-time fps): the second is what the frames cost in this process's
    CPU time, per thread used; on a shared machine it estimates the fps on idle cores."""
    fn()  # warm-up
    fn()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while n < min_frames or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, n / max(cpu / torch.get_num_threads(), 1e-9)


def _load() -> str:
    import os

    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# (frame w, h, processed long side, threads, method); the "peer" rows are how live AdaIN ran before
# this change: full frame size, 2 threads, NCHW
_CELLS = (
    (320, 240, 160, 1, "fast eager"), (320, 240, 160, 1, "fast channels_last"), (320, 240, 160, 1, "fast jit"),
    (320, 240, 160, 2, "fast eager"), (320, 240, 320, 1, "fast eager"),
    (320, 240, 320, 2, "adain (peer: before)"), (320, 240, 320, 1, "adain"), (320, 240, 160, 1, "adain"),
    (640, 480, 320, 1, "fast eager"), (640, 480, 320, 1, "fast channels_last"), (640, 480, 640, 1, "fast eager"),
    (640, 480, 640, 2, "adain (peer: before)"), (640, 480, 320, 1, "adain"),
)


def bench_live_matrix(args: argparse.Namespace, device: torch.device) -> None:
    from engine.features.style.adain import AdaINStylizer, random_decoder_state, random_encoder_state
    from engine.features.style.fast_style import FastStylizer, SpeedOptions
    from engine.features.style.transformer_net import random_state

    style = cv2.imread(str(PRESETS / "mosaic.png"))
    adain = AdaINStylizer(random_encoder_state(0), random_decoder_state(0), device)
    adain_before = AdaINStylizer(random_encoder_state(0), random_decoder_state(0), device, channels_last=False)
    stats = adain.style_stats(style, name="mosaic")
    variants = {"eager": SpeedOptions(), "channels_last": SpeedOptions(channels_last=True), "jit": SpeedOptions(jit=True)}
    if device.type == "cuda":
        variants.update({"fp16": SpeedOptions(half=True), "fp16+channels_last": SpeedOptions(half=True, channels_last=True)})
    fast = {k: FastStylizer(random_state(0), device, options=v) for k, v in variants.items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cells = tuple(c for c in _CELLS if not args.rows or any(r in c[4] for r in args.rows.split(",")))
    if device.type == "cuda":
        cells = tuple((w, h, w, 1, f"fast {k}") for w, h in ((320, 240), (640, 480)) for k in variants) + \
            ((320, 240, 320, 1, "adain"), (640, 480, 640, 1, "adain"))
    print(f"live matrix on {device} ({_load()}); >= {args.seconds:.0f} s per row, BGR in -> BGR out")
    print("  frame    processed  threads  method                  fps (wall)  fps (CPU time)")
    for w, h, side, threads, method in cells:
        if device.type != "cuda":
            torch.set_num_threads(threads)
        frame = resize_to(_content_image(w), h, w)
        if method.startswith("fast"):
            model = fast[method.split()[1]]

            def step():
                model.stylize(frame, side)
                sync()
        else:
            net = adain_before if "peer" in method else adain

            def step():
                small = frame if side >= w else cv2.resize(frame, (side, side * h // w), interpolation=cv2.INTER_AREA)
                out = tensor_to_bgr(net.stylize_tensor(bgr_to_tensor(small, device), stats, 1.0))
                sync()
                cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC)
        wall, cpu = _fps(step, args.seconds)
        print(f"  {w}x{h}  {side:4d} px   {threads}        {method:22s}  {wall:8.2f}  {cpu:12.2f}   [{_load()}]", flush=True)


def bench_flicker(args: argparse.Namespace) -> None:
    """Flicker (mean |change| between consecutive frames, 0..255) on a generated slow pan, with and without the stabiliser."""
    from engine.features.style.fast_style import FastStylizer
    from engine.features.style.stabilise import FlowStabiliser, flicker, psnr
    from engine.features.style.transformer_net import random_state

    state = random_state(5)
    state["deconv3.conv2d.weight"] = state["deconv3.conv2d.weight"] * 150.0  # a random net with a visible output range
    state["deconv3.conv2d.bias"] = torch.full((3,), 128.0)
    net = FastStylizer(state, "cpu")
    scene = _content_image(800)
    rng = np.random.default_rng(0)
    for _ in range(60):  # things in the landscape, so the flow has something to follow
        x, y = int(rng.integers(0, 800)), int(rng.integers(0, 600))
        cv2.circle(scene, (x, y), int(rng.integers(5, 25)), tuple(int(c) for c in rng.integers(30, 230, 3)), -1)
    for label, speed, noise in (("slow pan 0.6 px/frame, noise 3", 0.6, 3.0), ("static, no noise", 0.0, 0.0)):
        frames = []
        for t in range(30):
            m = np.float32([[1, 0, -speed * t], [0, 1, 0]])
            f = cv2.warpAffine(scene, m, (320, 240))
            frames.append(np.clip(f + rng.normal(0, noise, f.shape), 0, 255).astype(np.uint8) if noise else f)
        styl = [net.stylize(f, 320) for f in frames]
        stab = FlowStabiliser()
        t0 = time.perf_counter()
        steady = [stab.apply(c, s) for c, s in zip(frames, styl)]
        ms = 1000 * (time.perf_counter() - t0) / len(frames)
        before, after = flicker(styl[1:]), flicker(steady[1:])
        print(f"flicker, {label}: {before:.2f} without, {after:.2f} with the stabiliser "
              f"({100 * (1 - after / before) if before else 0:.0f}% less); min PSNR vs unstabilised "
              f"{min(psnr(a, b) for a, b in zip(steady, styl)):.1f} dB; stabiliser {ms:.1f} ms/frame at 320x240")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--live-size", default="640x480")
    parser.add_argument("--live-frames", type=int, default=20)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-photo", action="store_true")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--save", metavar="DIR", help="write both photo results here")
    parser.add_argument("--large", type=int, metavar="PX", help="also run a few steps at this long side (e.g. 2048) and report peak memory")
    parser.add_argument("--large-steps", type=int, default=3)
    parser.add_argument("--low-memory", action="store_true", help="--large with activation checkpointing")
    parser.add_argument("--live-matrix", action="store_true", help="fps table of fast presets and AdaIN (see the docstring)")
    parser.add_argument("--seconds", type=float, default=4.0, help="--live-matrix: seconds per cell")
    parser.add_argument("--rows", default="", help="--live-matrix: only rows whose method contains one of these words (e.g. adain)")
    parser.add_argument("--flicker", action="store_true", help="flicker with and without the stabiliser")
    args = parser.parse_args()
    from engine.runtime.device import choose_device, device_label

    device = choose_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device: {device_label(device)}")
    if not args.skip_photo:
        bench_photo(args, device)
    if args.live_matrix:
        bench_live_matrix(args, device)
    elif not args.skip_live:
        bench_live(args, device)
    if args.flicker:
        bench_flicker(args)
    if args.large:
        bench_large(args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
